-- Wireshark dissector for ftth's TC-layer captures (linktype 147, LINKTYPE_USER0).
--
--   tshark -X lua_script:$(ftth pcap dissector) -r tc.pcap -V
--   wireshark -X lua_script:$(ftth pcap dissector) tc.pcap
--
-- Record layout (docs/pcap.md; the scapy layers in ftth/capture/layers.py are the reference):
--   16-byte pseudo-header: "FTTH", version, technology (0 gpon, 1 xg-pon, 2 xgs-pon),
--   direction (0 downstream, 1 upstream), flags (bit 0: GEM/XGEM payloads elided),
--   frame index (32 bits), ONU-ID (16 bits, 0xFFFF downstream), reserved (16 bits).
--   Downstream GPON: PCBd (Psync, Ident, PLOAMd, BIP, Plend x2, US BW map), GEM headers.
--   Downstream XG(S)-PON: PSBd (PSync, SFC, PON-ID), HLend, BWmap, PLOAMs, XGEM headers.
--   Upstream GPON: PLOu (BIP, ONU-ID, Ind), then per allocation: its BW map entry, a 6-byte
--   section header (GEM frame count 16 bits, idle bytes 32 bits), the DBRu when flagged,
--   the GEM headers.
--   Upstream XG(S)-PON: XGTC header (ONU-ID, Ind, HEC), then per allocation: its allocation
--   structure, the section header, the DBRu when flagged, the XGEM headers; trailer (BIP).

-- Bit operations: bit32 in Lua 5.2 (Wireshark up to 4.2), native operators from Lua 5.3.
local band, rshift
if bit32 ~= nil then
  band, rshift = bit32.band, bit32.rshift
else
  band = load("return function(a, b) return a & b end")()
  rshift = load("return function(a, n) return a >> n end")()
end

local ftth = Proto("ftth", "FTTH PON TC layer (ftth emulator)")

local TECH = { [0] = "GPON", [1] = "XG-PON", [2] = "XGS-PON", [3] = "1G-EPON", [4] = "10G-EPON" }
local DIR = { [0] = "downstream", [1] = "upstream" }

local f = ftth.fields
f.magic = ProtoField.string("ftth.magic", "Magic")
f.version = ProtoField.uint8("ftth.version", "Version")
f.tech = ProtoField.uint8("ftth.technology", "Technology", base.DEC, TECH)
f.dir = ProtoField.uint8("ftth.direction", "Direction", base.DEC, DIR)
f.flags = ProtoField.uint8("ftth.flags", "Flags", base.HEX)
f.elided = ProtoField.bool("ftth.flags.payload_elided", "Payloads elided", 8, nil, 0x01)
f.frame = ProtoField.uint32("ftth.frame", "Frame index")
f.onu = ProtoField.uint16("ftth.onu_id", "ONU-ID")
-- BWmap / allocation structure
f.alloc = ProtoField.none("ftth.alloc", "Allocation structure")
f.alloc_id = ProtoField.uint16("ftth.alloc.alloc_id", "Alloc-ID")
f.alloc_flags = ProtoField.uint16("ftth.alloc.flags", "Flags", base.HEX)
f.alloc_dbru = ProtoField.bool("ftth.alloc.dbru", "DBRu requested")
f.alloc_ploamu = ProtoField.bool("ftth.alloc.ploamu", "PLOAMu")
f.alloc_start = ProtoField.uint16("ftth.alloc.start_time", "StartTime")
f.alloc_stop = ProtoField.uint16("ftth.alloc.stop_time", "StopTime")
f.alloc_grant = ProtoField.uint16("ftth.alloc.grant_size", "GrantSize")
f.alloc_fwi = ProtoField.uint8("ftth.alloc.fwi", "FWI")
f.alloc_bp = ProtoField.uint8("ftth.alloc.burst_profile", "BurstProfile")
f.alloc_hec = ProtoField.uint16("ftth.alloc.hec", "HEC", base.HEX)
f.alloc_crc = ProtoField.uint8("ftth.alloc.crc", "CRC-8", base.HEX)
-- GEM / XGEM header
f.xgem = ProtoField.none("ftth.xgem", "XGEM header")
f.gem = ProtoField.none("ftth.gem", "GEM header")
f.pli = ProtoField.uint16("ftth.xgem.pli", "PLI")
f.key = ProtoField.uint8("ftth.xgem.key_index", "Key index")
f.port = ProtoField.uint32("ftth.xgem.port_id", "Port-ID")
f.options = ProtoField.uint32("ftth.xgem.options", "Options", base.HEX)
f.lf = ProtoField.bool("ftth.xgem.lf", "LF (last fragment)")
f.pti = ProtoField.uint8("ftth.gem.pti", "PTI")
f.hec = ProtoField.uint16("ftth.xgem.hec", "HEC", base.HEX)
f.idle_xgem = ProtoField.bool("ftth.xgem.idle", "Idle frame")
-- upstream
f.section = ProtoField.none("ftth.section", "Allocation data")
f.n_frames = ProtoField.uint16("ftth.section.frames", "GEM/XGEM frames")
f.idle = ProtoField.uint32("ftth.section.idle_bytes", "Idle bytes of the grant")
f.dbru = ProtoField.none("ftth.dbru", "DBRu")
f.bufocc = ProtoField.uint32("ftth.dbru.bufocc", "BufOcc (report units)")
f.dbru_bytes = ProtoField.uint32("ftth.dbru.bytes", "Reported bytes")
f.dba = ProtoField.uint8("ftth.dbru.dba", "DBA (48-byte blocks)")
f.crc = ProtoField.uint8("ftth.dbru.crc", "CRC-8", base.HEX)
f.burst_onu = ProtoField.uint16("ftth.burst.onu_id", "ONU-ID")
f.ind = ProtoField.uint16("ftth.burst.ind", "Ind", base.HEX)
f.bip = ProtoField.uint32("ftth.burst.bip", "BIP", base.HEX)
-- downstream header
f.psync = ProtoField.bytes("ftth.ds.psync", "PSync")
f.superframe = ProtoField.uint64("ftth.ds.superframe", "Superframe counter")
f.bwmap_len = ProtoField.uint16("ftth.ds.bwmap_length", "BWmap length")
f.ploam_count = ProtoField.uint8("ftth.ds.ploam_count", "PLOAM count")
f.ploam = ProtoField.bytes("ftth.ploam", "PLOAM message")
f.blen = ProtoField.uint16("ftth.ds.blen", "Blen (BW map entries)")

local function bits64(tvb, off)
  return tvb(off, 8):uint64()
end

local function field64(v, shift, width)
  return v:rshift(shift):band(UInt64(2 ^ width - 1)):tonumber()
end

-- One XG allocation structure (8 bytes); returns alloc_id, dbru flag, grant size.
local function xg_alloc(tvb, off, tree)
  local v = bits64(tvb, off)
  local r = tvb(off, 8)
  local alloc_id = field64(v, 50, 14)
  local flags = field64(v, 48, 2)
  local start = field64(v, 32, 16)
  local grant = field64(v, 16, 16)
  local t = tree:add(f.alloc, r)
  t:add(f.alloc_id, r, alloc_id)
  t:add(f.alloc_flags, r, flags)
  t:add(f.alloc_dbru, r, band(flags, 2) ~= 0)
  t:add(f.alloc_ploamu, r, band(flags, 1) ~= 0)
  t:add(f.alloc_start, r, start)
  t:add(f.alloc_grant, r, grant)
  t:add(f.alloc_fwi, r, field64(v, 15, 1))
  t:add(f.alloc_bp, r, field64(v, 13, 2))
  t:add(f.alloc_hec, r, field64(v, 0, 13))
  local s = start == 0xFFFF and "chained" or tostring(start)
  t:set_text(string.format("Allocation: Alloc-ID %d, StartTime %s, GrantSize %d%s%s",
    alloc_id, s, grant, band(flags, 2) ~= 0 and ", DBRu" or "", band(flags, 1) ~= 0 and ", PLOAMu" or ""))
  return alloc_id, band(flags, 2) ~= 0
end

-- One GPON US BW map entry (8 bytes); returns alloc_id, dbru mode.
local function gpon_alloc(tvb, off, tree)
  local v = bits64(tvb, off)
  local r = tvb(off, 8)
  local alloc_id = field64(v, 52, 12)
  local flags = field64(v, 40, 12)
  local start = field64(v, 24, 16)
  local stop = field64(v, 8, 16)
  local dbru = band(rshift(flags, 7), 3)
  local t = tree:add(f.alloc, r)
  t:add(f.alloc_id, r, alloc_id)
  t:add(f.alloc_flags, r, flags)
  t:add(f.alloc_dbru, r, dbru ~= 0)
  t:add(f.alloc_ploamu, r, band(rshift(flags, 10), 1) ~= 0)
  t:add(f.alloc_start, r, start)
  t:add(f.alloc_stop, r, stop)
  t:add(f.alloc_grant, r, stop - start + 1)
  t:add(f.alloc_crc, r, field64(v, 0, 8))
  t:set_text(string.format("Allocation: Alloc-ID %d, SStart %d, SStop %d (GrantSize %d)%s",
    alloc_id, start, stop, stop - start + 1, dbru ~= 0 and ", DBRu" or ""))
  return alloc_id, dbru ~= 0
end

local function xgem_header(tvb, off, tree)
  local v = bits64(tvb, off)
  local r = tvb(off, 8)
  local pli = field64(v, 50, 14)
  local port = field64(v, 32, 16)
  local lf = field64(v, 13, 1)
  local t = tree:add(f.xgem, r)
  t:add(f.pli, r, pli)
  t:add(f.key, r, field64(v, 48, 2))
  t:add(f.port, r, port)
  t:add(f.options, r, field64(v, 14, 18))
  t:add(f.lf, r, lf == 1)
  t:add(f.hec, r, field64(v, 0, 13))
  t:set_text(string.format("XGEM header: PLI %d, Port-ID %d, LF %d", pli, port, lf))
end

local function gem_header(tvb, off, tree)
  local r = tvb(off, 5)
  local v = tvb(off, 5):uint64()
  local pli = field64(v, 28, 12)
  local port = field64(v, 16, 12)
  local pti = field64(v, 13, 3)
  local t = tree:add(f.gem, r)
  t:add(f.pli, r, pli)
  t:add(f.port, r, port)
  t:add(f.pti, r, pti)
  t:add(f.lf, r, band(pti, 1) == 1)
  t:add(f.hec, r, field64(v, 0, 13))
  t:set_text(string.format("GEM header: PLI %d, Port-ID %d, PTI %d", pli, port, pti))
end

local function downstream(tvb, off, tree, tech)
  local n_pieces = 0
  if tech == 0 then
    tree:add(f.psync, tvb(off, 4))
    local pcbd = off
    off = off + 8 + 13 -- Psync, Ident, PLOAMd
    tree:add(f.ploam, tvb(pcbd + 8, 13))
    off = off + 1 -- BIP
    local blen = rshift(tvb(off, 2):uint(), 4)
    tree:add(f.blen, tvb(off, 2), blen)
    off = off + 8 -- Plend twice
    local bw = tree:add(ftth, tvb(off, 8 * blen), "US BW map")
    bw:set_text(string.format("US BW map: %d allocations", blen))
    for _ = 1, blen do
      gpon_alloc(tvb, off, bw)
      off = off + 8
    end
    while off + 5 <= tvb:len() do
      gem_header(tvb, off, tree)
      off = off + 5
      n_pieces = n_pieces + 1
    end
    return blen, n_pieces
  end
  tree:add(f.psync, tvb(off, 8))
  tree:add(f.superframe, tvb(off + 8, 8), tvb(off + 8, 8):uint64():rshift(13))
  off = off + 24
  local hlend = tvb(off, 4):uint()
  local blen = rshift(hlend, 21)
  local nploam = band(rshift(hlend, 13), 0xFF)
  tree:add(f.bwmap_len, tvb(off, 2), blen)
  tree:add(f.ploam_count, tvb(off + 1, 2), nploam)
  off = off + 4
  local bw = tree:add(ftth, tvb(off, 8 * blen), "BWmap")
  bw:set_text(string.format("BWmap: %d allocation structures", blen))
  for _ = 1, blen do
    xg_alloc(tvb, off, bw)
    off = off + 8
  end
  for _ = 1, nploam do
    tree:add(f.ploam, tvb(off, 48))
    off = off + 48
  end
  while off + 8 <= tvb:len() do
    xgem_header(tvb, off, tree)
    off = off + 8
    n_pieces = n_pieces + 1
  end
  return blen, n_pieces
end

local function upstream(tvb, off, tree, tech)
  local n_alloc, n_pieces = 0, 0
  local len = tvb:len()
  local gpon = tech == 0
  if gpon then
    tree:add(f.bip, tvb(off, 1))
    tree:add(f.burst_onu, tvb(off + 1, 1))
    tree:add(f.ind, tvb(off + 2, 1))
    off = off + 3
  else
    local h = tvb(off, 4):uint()
    tree:add(f.burst_onu, tvb(off, 2), rshift(h, 22))
    tree:add(f.ind, tvb(off, 3), band(rshift(h, 13), 0x1FF))
    tree:add(f.hec, tvb(off + 2, 2), band(h, 0x1FFF))
    off = off + 4
    len = len - 4 -- trailer
  end
  while off + 14 <= len do
    local start = off
    local sec = tree:add(f.section, tvb(off, 14))
    local alloc_id, dbru
    if gpon then
      alloc_id, dbru = gpon_alloc(tvb, off, sec)
    else
      alloc_id, dbru = xg_alloc(tvb, off, sec)
    end
    off = off + 8
    local n = tvb(off, 2):uint()
    local idle = tvb(off + 2, 4):uint()
    sec:add(f.n_frames, tvb(off, 2))
    sec:add(f.idle, tvb(off + 2, 4))
    off = off + 6
    local dbru_text = ""
    if dbru then
      local d = sec:add(f.dbru, tvb(off, gpon and 2 or 4))
      if gpon then
        local dba = tvb(off, 1):uint()
        d:add(f.dba, tvb(off, 1))
        d:add(f.dbru_bytes, tvb(off, 1), dba * 48)
        d:add(f.crc, tvb(off + 1, 1))
        d:set_text(string.format("DBRu: %d blocks (%d bytes)", dba, dba * 48))
        dbru_text = string.format(", DBRu %d bytes", dba * 48)
        off = off + 2
      else
        local occ = tvb(off, 3):uint()
        d:add(f.bufocc, tvb(off, 3))
        d:add(f.dbru_bytes, tvb(off, 3), occ * 4)
        d:add(f.crc, tvb(off + 3, 1))
        d:set_text(string.format("DBRu: BufOcc %d words (%d bytes)", occ, occ * 4))
        dbru_text = string.format(", DBRu %d bytes", occ * 4)
        off = off + 4
      end
    end
    for _ = 1, n do
      if gpon then
        gem_header(tvb, off, sec)
        off = off + 5
      else
        xgem_header(tvb, off, sec)
        off = off + 8
      end
    end
    sec:set_len(off - start)
    sec:set_text(string.format("Allocation data: Alloc-ID %d, %d frames, %d idle bytes%s",
      alloc_id, n, idle, dbru_text))
    n_alloc = n_alloc + 1
    n_pieces = n_pieces + n
  end
  if not gpon then
    tree:add(f.bip, tvb(off, 4))
  end
  return n_alloc, n_pieces
end

function ftth.dissector(tvb, pinfo, root)
  if tvb:len() < 16 or tvb(0, 4):string() ~= "FTTH" then
    return 0
  end
  pinfo.cols.protocol = "FTTH-TC"
  local tree = root:add(ftth, tvb(), "FTTH PON TC layer")
  local tech = tvb(5, 1):uint()
  local dir = tvb(6, 1):uint()
  local frame = tvb(8, 4):uint()
  local onu = tvb(12, 2):uint()
  local ph = tree:add(ftth, tvb(0, 16), "Pseudo-header")
  ph:add(f.magic, tvb(0, 4))
  ph:add(f.version, tvb(4, 1))
  ph:add(f.tech, tvb(5, 1))
  ph:add(f.dir, tvb(6, 1))
  local fl = ph:add(f.flags, tvb(7, 1))
  fl:add(f.elided, tvb(7, 1))
  ph:add(f.frame, tvb(8, 4))
  ph:add(f.onu, tvb(12, 2))
  if tech > 2 then
    return tvb:len()
  end
  local name = TECH[tech] or "?"
  if dir == 0 then
    local n_alloc, n = downstream(tvb, 16, tree, tech)
    pinfo.cols.info = string.format("%s downstream frame %d: BWmap %d allocations, %d %s headers",
      name, frame, n_alloc, n, tech == 0 and "GEM" or "XGEM")
  else
    local n_alloc, n = upstream(tvb, 16, tree, tech)
    pinfo.cols.info = string.format("%s upstream burst, frame %d, ONU %d: %d allocations, %d %s headers",
      name, frame, onu, n_alloc, n, tech == 0 and "GEM" or "XGEM")
  end
  return tvb:len()
end

DissectorTable.get("wtap_encap"):add(wtap.USER0, ftth)
