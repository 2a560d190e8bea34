"""Scenario text the tests share."""

#: A small XGS-PON-ready tree (1:32, 4 ONUs) with one type-4 T-CONT and one downstream
#: class, Poisson trimodal 40 Mb/s each way: the base of the fault and trace tests (prefix a
#: header with name, technology, duration and seed; append [[faults]]).
FAULT_TREE = """
[tree]
feeder_km = 2.0
splitters = [4, 8]

[onus]
count = 4
drop_km = [0.5, 1.5]

[[tconts]]
name = "internet"
type = 4
max_bps = 2e9
buffer_bytes = 100000
traffic = { model = "poisson", rate_bps = 40e6, sizes = "trimodal" }

[[downstream]]
name = "internet"
priority = 1
buffer_bytes = 100000
traffic = { model = "poisson", rate_bps = 40e6, sizes = "trimodal" }
"""
