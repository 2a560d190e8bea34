"""Small scenarios for the capture tests (a few ONUs, tens of frames: seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

#: XGS-PON, 6 ONUs, trimodal Poisson traffic loaded enough to fragment XGEM frames, two
#: T-CONTs per ONU, two downstream classes.
XGS_TOML = """
name = "capture-xgs"
technology = "xgs-pon"
duration_s = 0.004
seed = 3
[tree]
splitters = [8]
[onus]
count = 6
drop_km = [0.5, 3.0]
[[tconts]]
name = "voice"
type = 2
assured_bps = 4e6
traffic = { model = "cbr", rate_bps = 3e6, size_bytes = 1200 }
[[tconts]]
name = "data"
type = 4
max_bps = 2e9
traffic = { model = "poisson", rate_bps = 8e8, sizes = "trimodal" }
[[downstream]]
name = "video"
priority = 0
traffic = { model = "poisson", rate_bps = 3e8, sizes = "trimodal" }
[[downstream]]
name = "data"
priority = 1
traffic = { model = "poisson", rate_bps = 9e8, sizes = "trimodal" }
"""

#: GPON, 4 ONUs, jumbo-ish greedy upstream (GEM pieces ≤ 4095 bytes are cut).
GPON_TOML = """
name = "capture-gpon"
technology = "gpon"
duration_s = 0.003
seed = 5
[tree]
splitters = [8]
[onus]
count = 4
drop_km = [1.0, 4.0]
[[tconts]]
name = "data"
type = 4
max_bps = 1e9
traffic = { model = "poisson", rate_bps = 2.5e8, sizes = "trimodal" }
[[downstream]]
name = "data"
priority = 0
traffic = { model = "poisson", rate_bps = 5e8, sizes = "trimodal" }
"""

#: XG-PON, 3 ONUs.
XG_TOML = (
    XGS_TOML.replace('"xgs-pon"', '"xg-pon"')
    .replace("capture-xgs", "capture-xg")
    .replace("rate_bps = 8e8", "rate_bps = 3e8")
)


def write(tmp: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path
