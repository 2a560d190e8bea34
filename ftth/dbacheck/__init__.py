"""The DBA report card, ``ftth dba-check`` (docs/dba-report-card.md).

:mod:`~ftth.dbacheck.battery` holds the criteria table and runs the card,
:mod:`~ftth.dbacheck.scenarios` builds each criterion's scenario,
:mod:`~ftth.dbacheck.drive` drives a DBA directly through ``olt/`` and
:mod:`~ftth.dbacheck.report` writes the table, JSON, Markdown and figures.
"""
