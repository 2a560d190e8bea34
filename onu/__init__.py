"""The ONU: its queues, tail drop, burst assembly and GEM/XGEM framing (:mod:`onu.fifo`) and
its status report, the DBRu value (:mod:`onu.report`).  Every engine calls these kernels."""
