"""Views of a PON that a student or a DBA developer reads: the byte-by-byte anatomy of one
frame (:mod:`ftth.views.anatomy`), the upstream timeline of a traced run
(:mod:`ftth.views.timeline`), their terminal rendering (:mod:`ftth.views.terminal`) and the
colour legend they share (:mod:`ftth.views.legend`).

Layer 5 (beside :mod:`ftth.report`): views read :mod:`ftth.phy` and the frame trace of
:mod:`ftth.emulator.trace`; nothing below imports them.
"""
