-- SPDX-License-Identifier: MIT
--
-- dadar.lua: Wireshark / tshark dissectors for the wire formats dadar reads
-- (docs/wire-formats.md, "Reading captures in Wireshark"):
--
--   mold64    MoldUDP64 downstream datagrams (session, sequence number, count; heartbeats and end of
--             session; each message block with its own sequence number), handed message by message
--             to one of the three below: dadarout on an output port, dadarpay on the payment port,
--             itch50 on every other port; and MoldUDP64 retransmission requests (to an output port
--             + 1). (Not "moldudp64": Wireshark has a built-in dissector of that name, and two
--             protocols cannot share one.)
--   itch50    NASDAQ TotalView-ITCH 5.0, every message type with every field, named as in NASDAQ's
--             specification.
--   dadarpay  dadar's 73-byte payment authorisation request ('P', version 1).
--   dadarout  dadar's output messages (the output stream: bbo, decision, alert, matched, window, late,
--             test).
--
-- Use:   tshark -X lua_script:tools/wireshark/dadar.lua -r capture.pcap
--        or `make install-dissector`, which copies this file into Wireshark's personal Lua plugin folder.
-- Ports: UDP 26477 (ITCH, what dadar-gen writes), 26480 (payments) and 26490 (dadar's output stream;
--        requests to 26491) by default, all preferences (mold64.itch_ports and mold64.output_ports,
--        ranges, and mold64.payment_port); datagrams on any other UDP port are taken by a heuristic
--        when their MoldUDP64 framing adds up exactly.
-- Tested with Wireshark 4.0 (Debian 12); needs a Wireshark built with Lua.

-- The same file found twice (installed as a plugin and given with -X lua_script:) would fail on the
-- second Proto(); say which copy is in use instead.
do
	local here = debug.getinfo(1, "S").source:gsub("^@", "")
	local first = rawget(_G, "DADAR_DISSECTOR_LOADED")
	if first then
		report_failure("dadar.lua: already loaded from " .. first .. "; " .. here ..
			" is ignored (remove one of the two copies)")
		return
	end
	rawset(_G, "DADAR_DISSECTOR_LOADED", here)
end

local DEFAULT_ITCH_PORTS = "26477"
local DEFAULT_PAYMENT_PORT = 26480
local DEFAULT_OUTPUT_PORTS = "26490"

local MOLD_HDR_LEN = 20
local MOLD_EOS = 0xFFFF

-- ---- small helpers ------------------------------------------------------------------------------

-- Byte-keyed value string for ProtoField.char from a table keyed by one-character strings.
local function charvals(t)
	local out = {}
	for k, v in pairs(t) do out[k:byte()] = v end
	return out
end

-- Alpha fields are left-justified and space padded: shown (and compared by filters) without the padding.
local function rtrim(s)
	return (s:gsub(" +$", ""))
end

-- Add an alpha field: its printable ASCII value without the padding, over the whole field; bytes that
-- are not printable ASCII are left to Wireshark's own (escaping) decoding, padding included.
local function add_alpha(tree, field, r)
	local s = r:string()
	if s:find("[^\32-\126]") then
		return tree:add(field, r)
	end
	return tree:add(field, r, rtrim(s))
end

-- For the Info column: printable ASCII, anything else as '.'.
local function printable(s)
	return (s:gsub("[^\32-\126]", "."))
end

-- A u32 with four implied decimals: "45.2300".
local function price4(v)
	return string.format("%d.%04d", math.floor(v / 10000), v % 10000)
end

-- A UInt64 with eight implied decimals (the MWCB levels): "3456.78901234".
local function price8(v)
	return tostring(v / 100000000) .. "." .. string.format("%08d", (v % 100000000):tonumber())
end

-- Nanoseconds since midnight as HH:MM:SS.nnnnnnnnn (hours past 23 for out-of-range values).
local function clock_ns(ns)
	local s = math.floor(ns / 1e9)
	local n = ns - s * 1e9
	return string.format("%02d:%02d:%02d.%09d", math.floor(s / 3600), math.floor(s / 60) % 60, s % 60, n)
end

local function clock_s(s)
	return string.format("%02d:%02d:%02d", math.floor(s / 3600), math.floor(s / 60) % 60, s % 60)
end

-- ---- NASDAQ TotalView-ITCH 5.0 -------------------------------------------------------------------

local itch = Proto("itch50", "NASDAQ TotalView-ITCH 5.0")

-- Message types: letter -> length (type byte included) and name, as in the specification.
local ITCH_MSG = {
	S = { 12, "System Event" },
	R = { 39, "Stock Directory" },
	H = { 25, "Stock Trading Action" },
	Y = { 20, "Reg SHO Restriction" },
	L = { 26, "Market Participant Position" },
	V = { 35, "MWCB Decline Level" },
	W = { 12, "MWCB Status" },
	K = { 28, "IPO Quoting Period Update" },
	J = { 35, "LULD Auction Collar" },
	h = { 21, "Operational Halt" },
	A = { 36, "Add Order" },
	F = { 40, "Add Order with MPID Attribution" },
	E = { 31, "Order Executed" },
	C = { 36, "Order Executed with Price" },
	X = { 23, "Order Cancel" },
	D = { 19, "Order Delete" },
	U = { 35, "Order Replace" },
	P = { 44, "Trade (non-cross)" },
	Q = { 40, "Cross Trade" },
	B = { 19, "Broken Trade" },
	I = { 50, "NOII" },
	N = { 20, "Retail Price Improvement Indicator" },
	O = { 48, "Direct Listing with Capital Raise Price Discovery" },
}

local msg_names = {}
for k, v in pairs(ITCH_MSG) do msg_names[k] = v[2] end

local CROSS_TYPE = { O = "Nasdaq Opening Cross", C = "Nasdaq Closing Cross",
	H = "Cross for IPO and halted / paused securities", I = "Nasdaq Cross Network: Intraday and Post-Close Cross",
	A = "Extended Trading Close" }
local YES_NO_NA = function(y, n) return { Y = y, N = n, [" "] = "Not available" } end

-- Field kinds: c (one-byte alpha, with value names when it has them), a (alpha, padding trimmed),
-- u16 / u32 / u64 (integers; u64 also for the 6-byte timestamp), p4 (u32 price, 4 decimals),
-- p8 (u64 price, 8 decimals), ts (timestamp, ns since midnight), tsec (u32 seconds since midnight).
-- id = { kind, label, value names }
local ITCH_FIELD = {
	message_type = { "c", "Message Type", msg_names },
	stock_locate = { "u16", "Stock Locate" },
	tracking_number = { "u16", "Tracking Number" },
	timestamp = { "ts", "Timestamp" },
	event_code = { "c", "Event Code", { O = "Start of Messages", S = "Start of System Hours",
		Q = "Start of Market Hours", M = "End of Market Hours", E = "End of System Hours", C = "End of Messages" } },
	stock = { "a", "Stock" },
	market_category = { "c", "Market Category", { Q = "Nasdaq Global Select Market", G = "Nasdaq Global Market",
		S = "Nasdaq Capital Market", N = "NYSE", A = "NYSE American", P = "NYSE Arca", Z = "BATS Z Exchange",
		V = "Investors' Exchange, LLC", [" "] = "Not available" } },
	financial_status_indicator = { "c", "Financial Status Indicator", { D = "Deficient", E = "Delinquent",
		Q = "Bankrupt", S = "Suspended", G = "Deficient and Bankrupt", H = "Deficient and Delinquent",
		J = "Delinquent and Bankrupt", K = "Deficient, Delinquent and Bankrupt",
		C = "Creations and/or Redemptions Suspended for Exchange Traded Product",
		N = "Normal (Default): Issuer Is NOT Deficient, Delinquent, or Bankrupt", [" "] = "Not available" } },
	round_lot_size = { "u32", "Round Lot Size" },
	round_lots_only = { "c", "Round Lots Only", { Y = "Only round lots are accepted",
		N = "Odd and mixed lots are allowed" } },
	issue_classification = { "c", "Issue Classification", { A = "American Depositary Share", B = "Bond",
		C = "Common Stock", F = "Depository Receipt", I = "144A", L = "Limited Partnership", N = "Notes",
		O = "Ordinary Share", P = "Preferred Stock", Q = "Other Securities", R = "Right",
		S = "Shares of Beneficial Interest", T = "Convertible Debenture", U = "Unit", V = "Units/Benif Int",
		W = "Warrant" } },
	issue_subtype = { "a", "Issue Sub-Type" },
	authenticity = { "c", "Authenticity", { P = "Live/Production", T = "Test" } },
	short_sale_threshold_indicator = { "c", "Short Sale Threshold Indicator", YES_NO_NA("Restricted", "Not restricted") },
	ipo_flag = { "c", "IPO Flag", YES_NO_NA("New IPO security", "Not a new IPO security") },
	luld_reference_price_tier = { "c", "LULD Reference Price Tier", { ["1"] = "Tier 1 NMS Stocks and select ETPs",
		["2"] = "Tier 2 NMS Stocks", [" "] = "Not available" } },
	etp_flag = { "c", "ETP Flag", YES_NO_NA("Exchange Traded Product", "Not an ETP") },
	etp_leverage_factor = { "u32", "ETP Leverage Factor" },
	inverse_indicator = { "c", "Inverse Indicator", { Y = "Inverse ETP", N = "Not an inverse ETP" } },
	trading_state = { "c", "Trading State", { H = "Halted across all U.S. equity markets / SROs",
		P = "Paused across all U.S. equity markets / SROs", Q = "Quotation only period for cross-SRO halt or pause",
		T = "Trading on Nasdaq" } },
	reserved = { "c", "Reserved" },
	reason = { "a", "Reason" },
	reg_sho_action = { "c", "Reg SHO Action", { ["0"] = "No price test in place",
		["1"] = "Reg SHO Short Sale Price Test Restriction in effect due to an intra-day price drop",
		["2"] = "Reg SHO Short Sale Price Test Restriction remains in effect" } },
	mpid = { "a", "MPID" },
	primary_market_maker = { "c", "Primary Market Maker", { Y = "Primary market maker", N = "Non-primary market maker" } },
	market_maker_mode = { "c", "Market Maker Mode", { N = "Normal", P = "Passive", S = "Syndicate",
		R = "Pre-syndicate", L = "Penalty" } },
	market_participant_state = { "c", "Market Participant State", { A = "Active", E = "Excused/Withdrawn",
		W = "Withdrawn", S = "Suspended", D = "Deleted" } },
	level_1 = { "p8", "Level 1" },
	level_2 = { "p8", "Level 2" },
	level_3 = { "p8", "Level 3" },
	breached_level = { "c", "Breached Level", { ["1"] = "Level 1", ["2"] = "Level 2", ["3"] = "Level 3" } },
	ipo_quotation_release_time = { "tsec", "IPO Quotation Release Time" },
	ipo_quotation_release_qualifier = { "c", "IPO Quotation Release Qualifier", {
		A = "Anticipated Quotation Release Time", C = "IPO Release Canceled/Postponed" } },
	ipo_price = { "p4", "IPO Price" },
	auction_collar_reference_price = { "p4", "Auction Collar Reference Price" },
	upper_auction_collar_price = { "p4", "Upper Auction Collar Price" },
	lower_auction_collar_price = { "p4", "Lower Auction Collar Price" },
	auction_collar_extension = { "u32", "Auction Collar Extension" },
	market_code = { "c", "Market Code", { Q = "Nasdaq", B = "BX", X = "PSX" } },
	operational_halt_action = { "c", "Operational Halt Action", { H = "Operationally halted on the identified market",
		T = "Operational halt lifted, trading resumed" } },
	order_reference_number = { "u64", "Order Reference Number" },
	buy_sell_indicator = { "c", "Buy/Sell Indicator", { B = "Buy", S = "Sell" } },
	shares = { "u32", "Shares" },
	price = { "p4", "Price" },
	attribution = { "a", "Attribution" },
	executed_shares = { "u32", "Executed Shares" },
	match_number = { "u64", "Match Number" },
	printable = { "c", "Printable", { N = "Non-printable", Y = "Printable" } },
	execution_price = { "p4", "Execution Price" },
	cancelled_shares = { "u32", "Cancelled Shares" },
	original_order_reference_number = { "u64", "Original Order Reference Number" },
	new_order_reference_number = { "u64", "New Order Reference Number" },
	cross_shares = { "u64", "Shares" },  -- Q: 8 bytes, unlike the u32 Shares of A, F, U and P
	cross_price = { "p4", "Cross Price" },
	cross_type = { "c", "Cross Type", CROSS_TYPE },
	paired_shares = { "u64", "Paired Shares" },
	imbalance_shares = { "u64", "Imbalance Shares" },
	imbalance_direction = { "c", "Imbalance Direction", { B = "Buy imbalance", S = "Sell imbalance",
		N = "No imbalance", O = "Insufficient orders to calculate", P = "Paused" } },
	far_price = { "p4", "Far Price" },
	near_price = { "p4", "Near Price" },
	current_reference_price = { "p4", "Current Reference Price" },
	price_variation_indicator = { "c", "Price Variation Indicator", { L = "Less than 1%", ["1"] = "1 to 1.99%",
		["2"] = "2 to 2.99%", ["3"] = "3 to 3.99%", ["4"] = "4 to 4.99%", ["5"] = "5 to 5.99%", ["6"] = "6 to 6.99%",
		["7"] = "7 to 7.99%", ["8"] = "8 to 8.99%", ["9"] = "9 to 9.99%", A = "10 to 19.99%", B = "20 to 29.99%",
		C = "30% or greater", [" "] = "Cannot be calculated" } },
	interest_flag = { "c", "Interest Flag", { B = "RPI orders available on the buy side",
		S = "RPI orders available on the sell side", A = "RPI orders available on both sides",
		N = "No RPI orders available" } },
	open_eligibility_status = { "c", "Open Eligibility Status", { N = "Not eligible", Y = "Eligible" } },
	minimum_allowable_price = { "p4", "Minimum Allowable Price" },
	maximum_allowable_price = { "p4", "Maximum Allowable Price" },
	near_execution_price = { "p4", "Near Execution Price" },
	near_execution_time = { "u64", "Near Execution Time" },
	lower_price_range_collar = { "p4", "Lower Price Range Collar" },
	upper_price_range_collar = { "p4", "Upper Price Range Collar" },
}

-- Layouts after the common header: { offset, width, field id } (dataplane/wire/itch.c has the same).
local ITCH_LAYOUT = {
	S = { { 11, 1, "event_code" } },
	R = { { 11, 8, "stock" }, { 19, 1, "market_category" }, { 20, 1, "financial_status_indicator" },
		{ 21, 4, "round_lot_size" }, { 25, 1, "round_lots_only" }, { 26, 1, "issue_classification" },
		{ 27, 2, "issue_subtype" }, { 29, 1, "authenticity" }, { 30, 1, "short_sale_threshold_indicator" },
		{ 31, 1, "ipo_flag" }, { 32, 1, "luld_reference_price_tier" }, { 33, 1, "etp_flag" },
		{ 34, 4, "etp_leverage_factor" }, { 38, 1, "inverse_indicator" } },
	H = { { 11, 8, "stock" }, { 19, 1, "trading_state" }, { 20, 1, "reserved" }, { 21, 4, "reason" } },
	Y = { { 11, 8, "stock" }, { 19, 1, "reg_sho_action" } },
	L = { { 11, 4, "mpid" }, { 15, 8, "stock" }, { 23, 1, "primary_market_maker" }, { 24, 1, "market_maker_mode" },
		{ 25, 1, "market_participant_state" } },
	V = { { 11, 8, "level_1" }, { 19, 8, "level_2" }, { 27, 8, "level_3" } },
	W = { { 11, 1, "breached_level" } },
	K = { { 11, 8, "stock" }, { 19, 4, "ipo_quotation_release_time" }, { 23, 1, "ipo_quotation_release_qualifier" },
		{ 24, 4, "ipo_price" } },
	J = { { 11, 8, "stock" }, { 19, 4, "auction_collar_reference_price" }, { 23, 4, "upper_auction_collar_price" },
		{ 27, 4, "lower_auction_collar_price" }, { 31, 4, "auction_collar_extension" } },
	h = { { 11, 8, "stock" }, { 19, 1, "market_code" }, { 20, 1, "operational_halt_action" } },
	A = { { 11, 8, "order_reference_number" }, { 19, 1, "buy_sell_indicator" }, { 20, 4, "shares" },
		{ 24, 8, "stock" }, { 32, 4, "price" } },
	F = { { 11, 8, "order_reference_number" }, { 19, 1, "buy_sell_indicator" }, { 20, 4, "shares" },
		{ 24, 8, "stock" }, { 32, 4, "price" }, { 36, 4, "attribution" } },
	E = { { 11, 8, "order_reference_number" }, { 19, 4, "executed_shares" }, { 23, 8, "match_number" } },
	C = { { 11, 8, "order_reference_number" }, { 19, 4, "executed_shares" }, { 23, 8, "match_number" },
		{ 31, 1, "printable" }, { 32, 4, "execution_price" } },
	X = { { 11, 8, "order_reference_number" }, { 19, 4, "cancelled_shares" } },
	D = { { 11, 8, "order_reference_number" } },
	U = { { 11, 8, "original_order_reference_number" }, { 19, 8, "new_order_reference_number" },
		{ 27, 4, "shares" }, { 31, 4, "price" } },
	P = { { 11, 8, "order_reference_number" }, { 19, 1, "buy_sell_indicator" }, { 20, 4, "shares" },
		{ 24, 8, "stock" }, { 32, 4, "price" }, { 36, 8, "match_number" } },
	Q = { { 11, 8, "cross_shares" }, { 19, 8, "stock" }, { 27, 4, "cross_price" }, { 31, 8, "match_number" },
		{ 39, 1, "cross_type" } },
	B = { { 11, 8, "match_number" } },
	I = { { 11, 8, "paired_shares" }, { 19, 8, "imbalance_shares" }, { 27, 1, "imbalance_direction" },
		{ 28, 8, "stock" }, { 36, 4, "far_price" }, { 40, 4, "near_price" }, { 44, 4, "current_reference_price" },
		{ 48, 1, "cross_type" }, { 49, 1, "price_variation_indicator" } },
	N = { { 11, 8, "stock" }, { 19, 1, "interest_flag" } },
	O = { { 11, 8, "stock" }, { 19, 1, "open_eligibility_status" }, { 20, 4, "minimum_allowable_price" },
		{ 24, 4, "maximum_allowable_price" }, { 28, 4, "near_execution_price" }, { 32, 8, "near_execution_time" },
		{ 40, 4, "lower_price_range_collar" }, { 44, 4, "upper_price_range_collar" } },
}
local ITCH_HEADER = { { 0, 1, "message_type" }, { 1, 2, "stock_locate" }, { 3, 2, "tracking_number" },
	{ 5, 6, "timestamp" } }

local IF = {}  -- field id -> ProtoField
do
	local list = {}
	for id, d in pairs(ITCH_FIELD) do
		local kind, label, vals, f = d[1], d[2], d[3]
		local abbr = "itch50." .. id
		if kind == "c" then
			-- base.HEX, not base.NONE: Wireshark 4.0 aborts printing a non-printable FT_CHAR of base NONE
			f = ProtoField.char(abbr, label, base.HEX, vals and charvals(vals) or nil)
		elseif kind == "a" then
			f = ProtoField.string(abbr, label, base.ASCII)
		elseif kind == "u16" then
			f = ProtoField.uint16(abbr, label, base.DEC)
		elseif kind == "u32" or kind == "p4" or kind == "tsec" then
			f = ProtoField.uint32(abbr, label, base.DEC)
		else -- u64, p8, ts
			f = ProtoField.uint64(abbr, label, base.DEC)
		end
		IF[id] = f
		list[#list + 1] = f
	end
	IF.data = ProtoField.bytes("itch50.data", "Undecoded Bytes")
	IF.extra = ProtoField.bytes("itch50.extra_bytes", "Bytes Past the Specified Length")
	list[#list + 1] = IF.data
	list[#list + 1] = IF.extra
	itch.fields = list
end

local ie_bad_length = ProtoExpert.new("itch50.expert.bad_length", "Message length differs from the specification",
	expert.group.MALFORMED, expert.severity.ERROR)
local ie_unknown = ProtoExpert.new("itch50.expert.unknown_type", "Unknown ITCH 5.0 message type",
	expert.group.UNDECODED, expert.severity.WARN)
local ie_empty = ProtoExpert.new("itch50.expert.empty", "Zero-length message",
	expert.group.MALFORMED, expert.severity.WARN)
itch.experts = { ie_bad_length, ie_unknown, ie_empty }

-- Add one ITCH field of message `len` bytes at `off`; false if it does not fit in the message.
local function itch_field(tree, tvb, off, len, spec)
	local o, w, id = spec[1], spec[2], spec[3]
	if o + w > len then return false end
	local r = tvb(off + o, w)
	local kind = ITCH_FIELD[id][1]
	if kind == "a" then
		add_alpha(tree, IF[id], r)
	elseif kind == "p4" then
		local v = r:uint()
		tree:add(IF[id], r):set_text(ITCH_FIELD[id][2] .. ": " .. price4(v) .. " (" .. v .. ")")
	elseif kind == "p8" then
		local v = r:uint64()
		tree:add(IF[id], r):set_text(ITCH_FIELD[id][2] .. ": " .. price8(v) .. " (" .. tostring(v) .. ")")
	elseif kind == "ts" then
		local v = r:uint64():tonumber()
		tree:add(IF[id], r):set_text(string.format("%s: %s (%.0f ns since midnight)", ITCH_FIELD[id][2],
			clock_ns(v), v))
	elseif kind == "tsec" then
		local v = r:uint()
		tree:add(IF[id], r):set_text(string.format("%s: %s (%d s since midnight)", ITCH_FIELD[id][2], clock_s(v), v))
	else
		tree:add(IF[id], r)
	end
	return true
end

-- Dissect one ITCH message of `len` bytes at `off` of `tvb`; `label` goes into the item text.
-- Returns the message type letter (or nil for an empty message).
local function dissect_itch_msg(tvb, off, len, pinfo, tree, label)
	local t = tree:add(itch, tvb(off, len))
	if len == 0 then
		t:set_text("NASDAQ TotalView-ITCH 5.0, empty message" .. label)
		t:add_proto_expert_info(ie_empty, "Zero-length message (dadar counts it as itch_empty)")
		return nil
	end
	local ty = tvb(off, 1):string()
	local m = ITCH_MSG[ty]
	if not m then
		local b = tvb(off, 1):uint()
		t:set_text(string.format("NASDAQ TotalView-ITCH 5.0, unknown type 0x%02x%s", b, label))
		t:add(IF.message_type, tvb(off, 1))
		t:add_proto_expert_info(ie_unknown, string.format(
			"Unknown ITCH 5.0 message type 0x%02x (dadar skips it by its length and counts it as unknown)", b))
		if len > 1 then t:add(IF.data, tvb(off + 1, len - 1)) end
		return ty
	end
	t:set_text(string.format("NASDAQ TotalView-ITCH 5.0, %s (%s)%s", m[2], ty, label))
	for _, spec in ipairs(ITCH_HEADER) do
		if not itch_field(t, tvb, off, len, spec) then break end
	end
	for _, spec in ipairs(ITCH_LAYOUT[ty]) do
		if not itch_field(t, tvb, off, len, spec) then break end
	end
	if len ~= m[1] then
		t:add_proto_expert_info(ie_bad_length, string.format(
			"ITCH 5.0 '%s' (%s) messages are %d bytes; this one is %d (dadar counts it as itch_bad_length)",
			ty, m[2], m[1], len))
		if len > m[1] then t:add(IF.extra, tvb(off + m[1], len - m[1])) end
	end
	return ty
end

-- On its own (Decode As, e.g. in Wireshark's built-in MoldUDP64 payload table): one message per tvb.
function itch.dissector(tvb, pinfo, tree)
	pinfo.cols.protocol = "ITCH50"
	dissect_itch_msg(tvb, 0, tvb:len(), pinfo, tree, "")
	return tvb:len()
end

-- ---- dadar payment authorisation request ---------------------------------------------------------

local pay = Proto("dadarpay", "dadar Payment Authorisation")

local PAY_LEN = 73
local CHANNEL = { U = "UPI", C = "Card", W = "Wallet" }
local KIND = { P = "P2P", M = "P2M", B = "Bill payment" }

local PF = {
	type = ProtoField.char("dadarpay.type", "Message Type", base.HEX,
		charvals({ P = "Payment authorisation request" })),
	version = ProtoField.uint8("dadarpay.version", "Version", base.DEC),
	event_time = ProtoField.absolute_time("dadarpay.event_time", "Event Time", base.UTC),
	event_ns = ProtoField.uint64("dadarpay.event_ns", "Event Time (ns since the Unix epoch)", base.DEC),
	txn_id = ProtoField.uint64("dadarpay.txn_id", "Transaction ID", base.DEC),
	payer = ProtoField.uint64("dadarpay.payer", "Payer Account", base.DEC),
	payee = ProtoField.uint64("dadarpay.payee", "Payee Account", base.DEC),
	merchant = ProtoField.uint64("dadarpay.merchant", "Merchant ID", base.DEC),
	amount = ProtoField.int64("dadarpay.amount", "Amount", base.DEC),
	currency = ProtoField.string("dadarpay.currency", "Currency", base.ASCII),
	mcc = ProtoField.uint16("dadarpay.mcc", "Merchant Category Code", base.DEC),
	channel = ProtoField.char("dadarpay.channel", "Channel", base.HEX, charvals(CHANNEL)),
	kind = ProtoField.char("dadarpay.kind", "Kind", base.HEX, charvals(KIND)),
	device = ProtoField.uint64("dadarpay.device", "Device Fingerprint", base.DEC),
	lat_e6 = ProtoField.int32("dadarpay.lat_e6", "Latitude", base.DEC),
	lon_e6 = ProtoField.int32("dadarpay.lon_e6", "Longitude", base.DEC),
	invalid = ProtoField.string("dadarpay.invalid", "Invalid", base.ASCII),
	data = ProtoField.bytes("dadarpay.data", "Undecoded Bytes"),
}
do
	local list = {}
	for _, f in pairs(PF) do list[#list + 1] = f end
	pay.fields = list
end

local pe_bad_length = ProtoExpert.new("dadarpay.expert.bad_length", "Payment message is not 73 bytes",
	expert.group.MALFORMED, expert.severity.ERROR)
local pe_unknown = ProtoExpert.new("dadarpay.expert.unknown_type", "Unknown payment message type",
	expert.group.UNDECODED, expert.severity.ERROR)
local pe_bad_version = ProtoExpert.new("dadarpay.expert.bad_version", "Unknown payment message version",
	expert.group.UNDECODED, expert.severity.ERROR)
local pe_invalid = ProtoExpert.new("dadarpay.expert.invalid", "Payment dadar blocks as invalid",
	expert.group.PROTOCOL, expert.severity.WARN)
pay.experts = { pe_bad_length, pe_unknown, pe_bad_version, pe_invalid }

-- Active ISO 4217 codes, as ops/fraud/fraud.c accepts them.
local ISO4217 = {}
for c in ([[AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
	BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
	FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
	KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
	MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
	SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
	UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF
	XPD XPF XPT XSU XUA YER ZAR ZMW ZWG]]):gmatch("%u%u%u") do ISO4217[c] = true end

local INT64_MAX = UInt64(0xFFFFFFFF, 0x7FFFFFFF)

-- Millionths of a degree as degrees, exactly: "-12.345678".
local function degrees(v)
	local a = math.abs(v)
	return string.format("%s%d.%06d", v < 0 and "-" or "", math.floor(a / 1e6), a % 1e6)
end

-- Minor units as major units with two decimals, exactly, for any i64: "-1234.05".
local function amount_text(u, negative)
	local mag = negative and (UInt64(0) - u) or u
	return (negative and "-" or "") .. tostring(mag / 100) .. "." .. string.format("%02d", (mag % 100):tonumber())
end

local function dissect_pay_msg(tvb, off, len, pinfo, tree, label)
	local t = tree:add(pay, tvb(off, len))
	if len == 0 then
		t:set_text("dadar Payment Authorisation, empty message" .. label)
		t:add_proto_expert_info(pe_bad_length, "Zero-length message (dadar counts it as pay_bad_length)")
		return nil
	end
	local ty = tvb(off, 1):string()
	t:add(PF.type, tvb(off, 1))
	if len >= 2 then t:add(PF.version, tvb(off + 1, 1)) end
	local why
	if len ~= PAY_LEN then
		t:add_proto_expert_info(pe_bad_length, string.format(
			"Payment messages are %d bytes; this one is %d (dadar counts it as pay_bad_length)", PAY_LEN, len))
		why = "bad length"
	elseif ty ~= "P" then
		t:add_proto_expert_info(pe_unknown, string.format(
			"Payment message type 0x%02x is not 'P' (dadar counts it as pay_unknown)", tvb(off, 1):uint()))
		why = "unknown type"
	elseif tvb(off + 1, 1):uint() ~= 1 then
		t:add_proto_expert_info(pe_bad_version, string.format(
			"Payment message version %d is not 1 (dadar counts it as pay_bad_version)", tvb(off + 1, 1):uint()))
		why = "unknown version"
	end
	if why then
		t:set_text("dadar Payment Authorisation, " .. why .. label)
		if len > 2 then t:add(PF.data, tvb(off + 2, len - 2)) end
		return ty
	end

	local r_time = tvb(off + 2, 8)
	local ns = r_time:uint64()
	local ti
	if ENC_TIME_NSECS then
		ti = t:add_packet_field(PF.event_time, r_time, ENC_TIME_NSECS + ENC_BIG_ENDIAN)
	else -- a Wireshark without the encoding: the same value, computed
		ti = t:add(PF.event_time, r_time, NSTime((ns / 1000000000):tonumber(), (ns % 1000000000):tonumber()))
	end
	ti:add(PF.event_ns, r_time)
	t:add(PF.txn_id, tvb(off + 10, 8))
	t:add(PF.payer, tvb(off + 18, 8))
	t:add(PF.payee, tvb(off + 26, 8))
	t:add(PF.merchant, tvb(off + 34, 8))
	local r_amount = tvb(off + 42, 8)
	local amount = r_amount:int64()
	local negative = amount < Int64(0)
	local currency = tvb(off + 50, 3):string()
	local amt = amount_text(r_amount:uint64(), negative)
	t:add(PF.amount, r_amount):set_text("Amount: " .. tostring(amount) .. " (" .. amt .. " " .. printable(currency) .. ")")
	t:add(PF.currency, tvb(off + 50, 3))
	t:add(PF.mcc, tvb(off + 53, 2))
	local channel, kind = tvb(off + 55, 1):string(), tvb(off + 56, 1):string()
	t:add(PF.channel, tvb(off + 55, 1))
	t:add(PF.kind, tvb(off + 56, 1))
	t:add(PF.device, tvb(off + 57, 8))
	local lat, lon = tvb(off + 65, 4):int(), tvb(off + 69, 4):int()
	local nowhere = lat == 0 and lon == 0 and " (both 0: no location)" or ""
	t:add(PF.lat_e6, tvb(off + 65, 4)):set_text("Latitude: " .. degrees(lat) .. "° (" .. lat .. " × 1e-6)" .. nowhere)
	t:add(PF.lon_e6, tvb(off + 69, 4)):set_text("Longitude: " .. degrees(lon) .. "° (" .. lon .. " × 1e-6)" .. nowhere)

	-- What dadar's fraud operator answers `block`, reason `invalid` (the first cause, in its order).
	local bad, cause
	if amount <= Int64(0) then
		bad, cause = "amount", "amount ≤ 0"
	elseif not ISO4217[currency] then
		bad, cause = "currency", "currency is not an active ISO 4217 code"
	elseif ns == UInt64(0) or ns > INT64_MAX then
		bad, cause = "time", "event time 0 or past 2^63 - 1 ns"
	elseif not CHANNEL[channel] then
		bad, cause = "channel", "channel is not U, C or W"
	elseif not KIND[kind] then
		bad, cause = "kind", "kind is not P, M or B"
	elseif lat < -90000000 or lat > 90000000 or lon < -180000000 or lon > 180000000 then
		bad, cause = "location", "latitude outside ±90° or longitude outside ±180°"
	end
	if bad then
		t:add(PF.invalid, tvb(off, len), bad):set_generated()
		t:add_proto_expert_info(pe_invalid, "dadar blocks this payment as invalid: " .. cause ..
			" (fraud_invalid_" .. bad .. ")")
	end
	t:set_text(string.format("dadar Payment Authorisation, txn %s: %s %s, %s %s%s", tostring(tvb(off + 10, 8):uint64()),
		amt, printable(currency), CHANNEL[channel] or "?", KIND[kind] or "?", label))
	return ty
end

function pay.dissector(tvb, pinfo, tree)
	pinfo.cols.protocol = "DADARPAY"
	dissect_pay_msg(tvb, 0, tvb:len(), pinfo, tree, "")
	return tvb:len()
end

-- ---- dadar output messages (the output stream) ---------------------------------------------------

local outp = Proto("dadarout", "dadar output")

local OUT_HDR_LEN = 56
local OUT_VERSION = 1

-- Type letter -> { length, name (as dadar's JSON lines say it), label }.
local OUT_MSG = {
	B = { 90, "bbo", "Top of Book" },
	D = { 109, "decision", "Decision" },
	A = { 120, "alert", "Alert" },
	M = { 115, "matched", "Matched Records" },
	W = { 120, "window", "Window" },
	L = { 81, "late", "Late Record" },
	T = { 120, "test", "Test" },
}
local OUT_OP = { [1] = "book", [2] = "fraud", [3] = "window", [4] = "cep", [200] = "test_multi",
	[201] = "test_timer" }
local OUT_ACTION = { [0] = "approve", [1] = "verify", [2] = "review", [3] = "block" }
-- Bit i of a decision's reasons is reason code i (docs/rules.md, "Reason codes").
local REASON_CODES = { "velocity_hour_amount", "velocity_hour_count", "velocity_day_amount", "repeated_amount",
	"round_amount", "below_limit", "structuring", "late_night_large", "new_device", "new_device_large",
	"shared_device", "impossible_travel", "fast_travel", "high_risk_area", "merchant_high_risk",
	"merchant_medium_risk", "new_merchant", "merchant_category", "amount_zscore", "model_score", "invalid" }
local DECISION_FLAGS = { { 1, "out_of_order", "Out of Order" }, { 2, "invalid", "Invalid" },
	{ 4, "no_payer_state", "Scored Without Payer State" }, { 8, "late", "Later Than the Late Grace" } }
local DECISION_FLAG_NAMES = {}
for i, d in ipairs(DECISION_FLAGS) do DECISION_FLAG_NAMES[i] = d[2] end

local OF = {
	type = ProtoField.char("dadarout.type", "Message Type", base.HEX, charvals({ B = "bbo", D = "decision",
		A = "alert", M = "matched", W = "window", L = "late", T = "test" })),
	version = ProtoField.uint8("dadarout.version", "Version", base.DEC),
	lsn = ProtoField.uint64("dadarout.lsn", "LSN", base.DEC),
	cause = ProtoField.uint64("dadarout.cause", "Cause (LSN of the input)", base.DEC),
	event_ns = ProtoField.uint64("dadarout.event_ns", "Event Time (ns)", base.DEC),
	seq = ProtoField.uint64("dadarout.seq", "Feed Sequence Number", base.DEC),
	op = ProtoField.uint8("dadarout.op", "Operator", base.DEC, OUT_OP),
	feed = ProtoField.uint8("dadarout.feed", "Feed", base.DEC),
	rule = ProtoField.uint16("dadarout.rule", "Rule", base.DEC),
	rule_version = ProtoField.uint16("dadarout.rule_version", "Rule Set Version", base.DEC),
	shard = ProtoField.uint16("dadarout.shard", "Shard", base.DEC),
	flags = ProtoField.uint16("dadarout.flags", "Flags", base.HEX),
	key = ProtoField.uint32("dadarout.key", "Partition Key", base.DEC),
	symbol = ProtoField.string("dadarout.symbol", "Symbol", base.ASCII),
	data = ProtoField.bytes("dadarout.data", "Undecoded Bytes"),
}
local OUT_HEADER = { { 0, 1, "type" }, { 1, 1, "version" }, { 2, 8, "lsn" }, { 10, 8, "cause" },
	{ 18, 8, "event_ns" }, { 26, 8, "seq" }, { 34, 1, "op" }, { 35, 1, "feed" }, { 36, 2, "rule" },
	{ 38, 2, "rule_version" }, { 40, 2, "shard" }, { 42, 2, "flags" }, { 44, 4, "key" }, { 48, 8, "symbol" } }

-- Bodies: { offset from 56, width, field id, kind, label, repeat count }. Kinds: u8 u16 u32 u64 i64
-- (integers), x8 (u8 in hex), p4 (u32 price, 4 decimals), amount (i64 minor units), reasons, dflags,
-- action, str (ASCII), ref (a matched record's u64, in hex, decoded below it).
local OUT_BODY = {
	B = { { 0, 4, "bid_price", "p4", "Bid Price" }, { 4, 4, "ask_price", "p4", "Ask Price" },
		{ 8, 8, "bid_shares", "u64", "Bid Shares" }, { 16, 8, "ask_shares", "u64", "Ask Shares" },
		{ 24, 4, "bid_orders", "u32", "Bid Orders" }, { 28, 4, "ask_orders", "u32", "Ask Orders" },
		{ 32, 2, "locate", "u16", "Stock Locate" } },
	D = { { 0, 8, "txn_id", "u64", "Transaction ID" }, { 8, 8, "payer", "u64", "Payer Account" },
		{ 16, 8, "amount", "amount", "Amount" }, { 24, 8, "merchant", "u64", "Merchant ID" },
		{ 32, 8, "device", "u64", "Device Fingerprint" }, { 40, 4, "reasons", "reasons", "Reasons" },
		{ 44, 2, "score", "u16", "Score" }, { 46, 1, "action", "action", "Action" },
		{ 47, 1, "flags", "dflags", "Decision Flags" }, { 48, 2, "mcc", "u16", "Merchant Category Code" },
		{ 50, 3, "currency", "str", "Currency" } },
	A = { { 0, 8, "first_ns", "u64", "First Time (ns)" }, { 8, 8, "last_ns", "u64", "Last Time (ns)" },
		{ 16, 8, "measure", "i64", "Measure", 4 },
		{ 48, 8, "first_seq", "u64", "First Record's Feed Sequence Number" }, { 56, 4, "events", "u32", "Events" },
		{ 60, 1, "measure_count", "u8", "Measure Count" }, { 61, 1, "null_mask", "x8", "Null Mask" },
		{ 62, 1, "timeout", "u8", "Timeout" }, { 63, 1, "first_feed", "u8", "First Record's Feed" } },
	M = { { 0, 8, "ref", "ref", "Ref", 7 }, { 56, 1, "n", "u8", "Refs in This Part" }, { 57, 1, "part", "u8", "Part" },
		{ 58, 1, "parts", "u8", "Parts" } },
	W = { { 0, 8, "start", "u64", "Start (ns)" }, { 8, 8, "end", "u64", "End (ns)" },
		{ 16, 8, "value", "i64", "Aggregate", 6 } },
	L = { { 0, 8, "window_end", "u64", "Window End (ns)" }, { 8, 8, "watermark", "u64", "Watermark (ns)" },
		{ 16, 8, "time", "u64", "Record Time (ns)" }, { 24, 1, "window_index", "u8", "Window Index" } },
	T = { { 0, 8, "value", "u64", "Value", 8 } },
}

-- A matched record's ref (docs/wire-formats.md, "Matched records"): bit 63 set, a window's result
-- (bit 62 late, the window's index in bits 56..61, its end in bits 0..55); clear, a message (the feed
-- in bits 56..62, its sequence number in bits 0..55). Its parts are fields over the ref's first byte
-- (bit masks) and over its other seven bytes.
local REF_F = {
	window_result = ProtoField.bool("dadarout.matched.window_result", "Window Result", 8, nil, 0x80),
	feed = ProtoField.uint8("dadarout.matched.feed", "Feed", base.DEC, nil, 0x7f),
	seq = ProtoField.uint64("dadarout.matched.seq", "Sequence Number", base.DEC),
	late = ProtoField.bool("dadarout.matched.late", "Late Firing", 8, nil, 0x40),
	window_index = ProtoField.uint8("dadarout.matched.window_index", "Window Index", base.DEC, nil, 0x3f),
	["end"] = ProtoField.uint64("dadarout.matched.end", "Window End (ns)", base.DEC),
}

local OBF = {}      -- type letter -> field id -> ProtoField
local REASON_F = {} -- bit (from 1) -> ProtoField
local DFLAG_F = {}
do
	local list = {}
	for _, f in pairs(OF) do list[#list + 1] = f end
	for ty, specs in pairs(OUT_BODY) do
		OBF[ty] = {}
		for _, s in ipairs(specs) do
			local abbr, kind, label, f = "dadarout." .. OUT_MSG[ty][2] .. "." .. s[3], s[4], s[5]
			if kind == "u8" then
				f = ProtoField.uint8(abbr, label, base.DEC)
			elseif kind == "x8" or kind == "dflags" then
				f = ProtoField.uint8(abbr, label, base.HEX)
			elseif kind == "action" then
				f = ProtoField.uint8(abbr, label, base.DEC, OUT_ACTION)
			elseif kind == "u16" then
				f = ProtoField.uint16(abbr, label, base.DEC)
			elseif kind == "u32" or kind == "p4" then
				f = ProtoField.uint32(abbr, label, base.DEC)
			elseif kind == "reasons" then
				f = ProtoField.uint32(abbr, label, base.HEX)
			elseif kind == "u64" then
				f = ProtoField.uint64(abbr, label, base.DEC)
			elseif kind == "ref" then
				f = ProtoField.uint64(abbr, label, base.HEX)
			elseif kind == "str" then
				f = ProtoField.string(abbr, label, base.ASCII)
			else -- i64, amount
				f = ProtoField.int64(abbr, label, base.DEC)
			end
			OBF[ty][s[3]] = f
			list[#list + 1] = f
		end
	end
	for i, code in ipairs(REASON_CODES) do
		REASON_F[i] = ProtoField.bool("dadarout.decision.reason." .. code, code, 32, nil, 2 ^ (i - 1))
		list[#list + 1] = REASON_F[i]
	end
	for i, d in ipairs(DECISION_FLAGS) do
		DFLAG_F[i] = ProtoField.bool("dadarout.decision." .. d[2], d[3], 8, nil, d[1])
		list[#list + 1] = DFLAG_F[i]
	end
	for _, f in pairs(REF_F) do list[#list + 1] = f end
	outp.fields = list
end

local oe_bad_length = ProtoExpert.new("dadarout.expert.bad_length", "Output message length differs from its type's",
	expert.group.MALFORMED, expert.severity.ERROR)
local oe_unknown = ProtoExpert.new("dadarout.expert.unknown_type", "Unknown output message type",
	expert.group.UNDECODED, expert.severity.ERROR)
local oe_bad_version = ProtoExpert.new("dadarout.expert.bad_version", "Unknown output message version",
	expert.group.UNDECODED, expert.severity.ERROR)
outp.experts = { oe_bad_length, oe_unknown, oe_bad_version }

-- The symbol: space padded (alert, matched, window, late) or 8 zero bytes (the others); shown without either.
local function add_symbol(tree, r)
	local s = r:raw():gsub("[ %z]+$", "")
	if s:find("[^\32-\126]") then
		return tree:add(OF.symbol, r)
	end
	return tree:add(OF.symbol, r, s)
end

-- Names of the set bits of a mask (table index i is bit i - 1; bits past the table as "bit N"), or
-- how many when more than 5 (the item below lists each bit, and a label has room for 240 characters).
local function bit_names(v, names, nbits)
	local out = {}
	for i = 0, nbits - 1 do
		if math.floor(v / 2 ^ i) % 2 == 1 then out[#out + 1] = names[i + 1] or ("bit " .. i) end
	end
	if #out > 5 then return #out .. " set" end
	return #out > 0 and table.concat(out, ", ") or "none"
end

-- Ref i of a matched message at r (8 bytes), `used` when i is below the message's n: the ref, then
-- its parts under it.
local function add_ref(t, f, r, i, used)
	local it = t:add(f, r)
	if not used then
		it:set_text(string.format("Ref %d: 0x%s (not used)", i, r:uint64():tohex(16)))
		return
	end
	local top, low = r(0, 1), r(1, 7)
	local b0 = top:uint()
	it:add(REF_F.window_result, top)
	if b0 >= 0x80 then
		local late = b0 % 0x80 >= 0x40
		it:set_text(string.format("Ref %d: window %d, end %s%s", i, b0 % 0x40, tostring(low:uint64()),
			late and " (late)" or ""))
		it:add(REF_F.late, top)
		it:add(REF_F.window_index, top)
		it:add(REF_F["end"], low)
	else
		it:set_text(string.format("Ref %d: feed %d, seq %s", i, b0, tostring(low:uint64())))
		it:add(REF_F.feed, top)
		it:add(REF_F.seq, low)
	end
end

local function dissect_out_body(t, tvb, off, ty)
	local b = off + OUT_HDR_LEN
	local nmeasures, nulls, nrefs = 0, 0, 0
	if ty == "A" then nmeasures, nulls = tvb(b + 60, 1):uint(), tvb(b + 61, 1):uint() end
	if ty == "M" then nrefs = tvb(b + 56, 1):uint() end
	for _, s in ipairs(OUT_BODY[ty]) do
		local o, w, id, kind, label = s[1], s[2], s[3], s[4], s[5]
		local f = OBF[ty][id]
		if kind == "ref" then
			for i = 0, s[6] - 1 do add_ref(t, f, tvb(b + o + i * w, w), i, i < nrefs) end
		elseif s[6] then
			for i = 0, s[6] - 1 do
				local r = tvb(b + o + i * w, w)
				local v = kind == "i64" and r:int64() or r:uint64()
				local note = ""
				if ty == "A" and i >= nmeasures then
					note = " (not used)"
				elseif ty == "A" and math.floor(nulls / 2 ^ i) % 2 == 1 then
					note = " (null)"
				end
				t:add(f, r):set_text(string.format("%s %d: %s%s", label, i, tostring(v), note))
			end
		else
			local r = tvb(b + o, w)
			if kind == "p4" then
				local v = r:uint()
				t:add(f, r):set_text(label .. ": " .. price4(v) .. " (" .. v .. ")")
			elseif kind == "amount" then
				local amount = r:int64()
				local cur = printable(tvb(b + 50, 3):raw())
				t:add(f, r):set_text("Amount: " .. tostring(amount) .. " (" ..
					amount_text(r:uint64(), amount < Int64(0)) .. " " .. cur .. ")")
			elseif kind == "reasons" then
				local v = r:uint()
				local it = t:add(f, r)
				it:set_text(string.format("Reasons: 0x%08x (%s)", v, bit_names(v, REASON_CODES, 32)))
				for _, bf in ipairs(REASON_F) do it:add(bf, r) end
			elseif kind == "dflags" then
				local v = r:uint()
				local it = t:add(f, r)
				it:set_text(string.format("Decision Flags: 0x%02x (%s)", v, bit_names(v, DECISION_FLAG_NAMES, 8)))
				for _, bf in ipairs(DFLAG_F) do it:add(bf, r) end
			else
				t:add(f, r)
			end
		end
	end
end

-- Dissect one output message of `len` bytes at `off`; returns its name ("bbo", ...) or "?" when a
-- consumer would skip it.
local function dissect_out_msg(tvb, off, len, pinfo, tree, label)
	local t = tree:add(outp, tvb(off, len))
	if len == 0 then
		t:set_text("dadar Output, empty message" .. label)
		t:add_proto_expert_info(oe_bad_length, "Zero-length output message (a consumer skips it)")
		return "?"
	end
	local ty = tvb(off, 1):string()
	local m = OUT_MSG[ty]
	t:add(OF.type, tvb(off, 1))
	if len >= 2 then t:add(OF.version, tvb(off + 1, 1)) end
	local why
	if not m then
		t:add_proto_expert_info(oe_unknown, string.format(
			"Output message type 0x%02x is not B, D, A, M, W, L or T (a consumer skips it)", tvb(off, 1):uint()))
		why = "unknown type"
	elseif len >= 2 and tvb(off + 1, 1):uint() ~= OUT_VERSION then
		t:add_proto_expert_info(oe_bad_version, string.format(
			"Output message version %d is not %d (a consumer skips it)", tvb(off + 1, 1):uint(), OUT_VERSION))
		why = "unknown version"
	elseif len ~= m[1] then
		t:add_proto_expert_info(oe_bad_length, string.format(
			"Output messages '%s' (%s) are %d bytes; this one is %d (a consumer skips it)", ty, m[2], m[1], len))
		why = "bad length"
	end
	if why then
		t:set_text("dadar Output, " .. why .. label)
		if len > 2 then t:add(OF.data, tvb(off + 2, len - 2)) end
		return "?"
	end

	for _, s in ipairs(OUT_HEADER) do
		local r = tvb(off + s[1], s[2])
		if s[3] == "symbol" then
			add_symbol(t, r)
		elseif s[3] ~= "type" and s[3] ~= "version" then
			local it = t:add(OF[s[3]], r)
			if s[3] == "flags" and ty == "W" and r:uint() % 2 == 1 then it:append_text(" (late firing)") end
			if s[3] == "flags" and ty == "A" and r:uint() > 0 then
				it:append_text(string.format(" (%d matched records)", r:uint()))
			end
		end
	end
	dissect_out_body(t, tvb, off, ty)

	local what = ""
	if ty == "D" then
		what = string.format(", txn %s: %s", tostring(tvb(off + 56, 8):uint64()),
			OUT_ACTION[tvb(off + 102, 1):uint()] or "?")
	elseif ty == "A" or ty == "M" or ty == "W" or ty == "L" then
		local sym = rtrim(tvb(off + 48, 8):raw())
		what = sym ~= "" and (", " .. printable(sym)) or ""
		if ty == "M" then
			what = what .. string.format(", part %d of %d: %d refs", tvb(off + 113, 1):uint() + 1,
				tvb(off + 114, 1):uint(), tvb(off + 112, 1):uint())
		end
	end
	t:set_text(string.format("dadar Output, %s (%s), LSN %s%s%s", m[2], ty, tostring(tvb(off + 2, 8):uint64()),
		what, label))
	return m[2]
end

function outp.dissector(tvb, pinfo, tree)
	pinfo.cols.protocol = "DADAROUT"
	dissect_out_msg(tvb, 0, tvb:len(), pinfo, tree, "")
	return tvb:len()
end

-- ---- MoldUDP64 -----------------------------------------------------------------------------------

local mold = Proto("mold64", "MoldUDP64 (dadar)")

local MF = {
	session = ProtoField.string("mold64.session", "Session", base.ASCII),
	sequence = ProtoField.uint64("mold64.sequence", "Sequence Number", base.DEC),
	count = ProtoField.uint16("mold64.count", "Message Count", base.DEC),
	next_sequence = ProtoField.uint64("mold64.next_sequence", "Next Sequence Number", base.DEC),
	heartbeat = ProtoField.none("mold64.heartbeat", "Heartbeat"),
	end_of_session = ProtoField.none("mold64.end_of_session", "End of Session"),
	message = ProtoField.none("mold64.message", "Message Block"),
	message_length = ProtoField.uint16("mold64.message_length", "Message Length", base.DEC),
	message_sequence = ProtoField.uint64("mold64.message_sequence", "Message Sequence Number", base.DEC),
	message_data = ProtoField.bytes("mold64.message_data", "Message Bytes Present"),
	trailing = ProtoField.bytes("mold64.trailing", "Trailing Bytes"),
	short = ProtoField.bytes("mold64.short", "Truncated Header"),
	request = ProtoField.none("mold64.request", "Retransmission Request"),
	request_session = ProtoField.string("mold64.request.session", "Session", base.ASCII),
	request_sequence = ProtoField.uint64("mold64.request.sequence", "Requested Sequence Number", base.DEC),
	request_count = ProtoField.uint16("mold64.request.count", "Requested Message Count", base.DEC),
}
do
	local list = {}
	for _, f in pairs(MF) do list[#list + 1] = f end
	mold.fields = list
end

-- One expert per reason dadar drops a datagram whole (its mold_* counters), and two for the signals.
local ME = {
	short = ProtoExpert.new("mold64.expert.short", "Datagram shorter than the 20-byte MoldUDP64 header",
		expert.group.MALFORMED, expert.severity.ERROR),
	msg_overrun = ProtoExpert.new("mold64.expert.msg_overrun", "Message length runs past the end of the datagram",
		expert.group.MALFORMED, expert.severity.ERROR),
	count_mismatch = ProtoExpert.new("mold64.expert.count_mismatch", "Fewer messages present than the header's count",
		expert.group.MALFORMED, expert.severity.ERROR),
	trailing = ProtoExpert.new("mold64.expert.trailing", "Bytes left over after the header's count of messages",
		expert.group.MALFORMED, expert.severity.ERROR),
	bad_seq = ProtoExpert.new("mold64.expert.bad_seq", "Sequence number 0 with messages, or sequence + count overflows",
		expert.group.PROTOCOL, expert.severity.ERROR),
	heartbeat = ProtoExpert.new("mold64.expert.heartbeat", "Heartbeat", expert.group.SEQUENCE, expert.severity.CHAT),
	end_of_session = ProtoExpert.new("mold64.expert.end_of_session", "End of session",
		expert.group.SEQUENCE, expert.severity.CHAT),
	request = ProtoExpert.new("mold64.expert.request", "Retransmission request",
		expert.group.SEQUENCE, expert.severity.CHAT),
	bad_request = ProtoExpert.new("mold64.expert.bad_request",
		"Retransmission request dadar ignores (not 20 bytes, sequence number 0 or count 0)",
		expert.group.MALFORMED, expert.severity.ERROR),
}
do
	local list = {}
	for _, e in pairs(ME) do list[#list + 1] = e end
	mold.experts = list
end

mold.prefs.itch_ports = Pref.range("ITCH 5.0 UDP ports", DEFAULT_ITCH_PORTS,
	"UDP ports whose MoldUDP64 messages are NASDAQ TotalView-ITCH 5.0 (dadar-gen's default: 26477)", 65535)
mold.prefs.payment_port = Pref.uint("Payment UDP port", DEFAULT_PAYMENT_PORT,
	"UDP destination port whose MoldUDP64 messages are dadar payment authorisation requests " ..
	"(dadar's and dadar-gen's default: 26480; 0: none)")
mold.prefs.output_ports = Pref.range("Output stream UDP ports", DEFAULT_OUTPUT_PORTS,
	"UDP ports of dadar's output stream (--output-udp): their MoldUDP64 messages are dadar output " ..
	"messages, and datagrams to the port one above are retransmission requests (default: 26490)", 65535)

-- Port ranges of a range preference ("26477,30000-30010") as { { low, high }, ... }.
local function parse_ranges(s)
	local out = {}
	for part in tostring(s):gmatch("[^,%s]+") do
		local lo, hi = part:match("^(%d+)%-(%d+)$")
		lo = tonumber(lo or part:match("^%d+$"))
		if lo then out[#out + 1] = { lo, tonumber(hi) or lo } end
	end
	return out
end

local function in_ranges(ranges, port)
	for _, r in ipairs(ranges) do
		if port >= r[1] and port <= r[2] then return true end
	end
	return false
end

-- The request ports, one above each output port, as a range string.
local function request_range(ranges)
	local parts = {}
	for _, r in ipairs(ranges) do
		local lo, hi = r[1] + 1, math.min(r[2] + 1, 65535)
		if lo <= hi then parts[#parts + 1] = lo == hi and tostring(lo) or (lo .. "-" .. hi) end
	end
	return table.concat(parts, ",")
end

local out_ranges, req_ranges = {}, {}  -- set from the preference by register_ports()

-- What the messages of a downstream datagram are: output messages when it goes to an output port,
-- payments when it goes to the payment port (as dadar decides), output messages again when it comes
-- from an output port or from a request port (an answer to a retransmission request), else ITCH.
local function message_kind(pinfo)
	local dst, src = pinfo.dst_port, pinfo.src_port
	if in_ranges(out_ranges, dst) then return "output" end
	if mold.prefs.payment_port ~= 0 and dst == mold.prefs.payment_port then return "payment" end
	if in_ranges(out_ranges, src) or in_ranges(req_ranges, src) then return "output" end
	return "itch"
end

local U64_MAX = UInt64(0xFFFFFFFF, 0xFFFFFFFF)

-- The reason dadar would drop this datagram whole (dataplane/wire/moldudp64.c, dd_mold_parse), or nil.
local function mold_verdict(tvb)
	local len = tvb:len()
	if len < MOLD_HDR_LEN then return "short" end
	local seq, count = tvb(10, 8):uint64(), tvb(18, 2):uint()
	if count == 0 or count == MOLD_EOS then
		return len ~= MOLD_HDR_LEN and "trailing" or nil
	end
	if seq == UInt64(0) or seq > U64_MAX - count then return "bad_seq" end
	local off = MOLD_HDR_LEN
	for _ = 1, count do
		local left = len - off
		if left == 0 then return "count_mismatch" end
		if left < 2 or tvb(off, 2):uint() > left - 2 then return "msg_overrun" end
		off = off + 2 + tvb(off, 2):uint()
	end
	if off ~= len then return "trailing" end
	return nil
end

local VERDICT_TEXT = {
	short = "datagram shorter than the 20-byte header",
	msg_overrun = "a message length runs past the end of the datagram",
	count_mismatch = "fewer messages present than the header's count",
	trailing = "bytes left over after the header's count of messages",
	bad_seq = "sequence number 0 with messages, or sequence + count overflows",
}

-- A retransmission request (to a request port): session, first sequence number, count; 20 bytes.
local function dissect_request(tvb, pinfo, tree)
	local len = tvb:len()
	pinfo.cols.protocol = "MoldUDP64"
	local root = tree:add(mold, tvb(0, len))
	root:add(MF.request, tvb(0, math.min(len, MOLD_HDR_LEN))):set_generated()
	root:add_proto_expert_info(ME.request)
	if len < MOLD_HDR_LEN then
		if len > 0 then root:add(MF.short, tvb(0, len)) end
		root:add_proto_expert_info(ME.bad_request, string.format(
			"Retransmission requests are 20 bytes; this one is %d (dadar ignores it)", len))
		root:set_text(string.format("MoldUDP64 (dadar), Retransmission Request, %d bytes: too short", len))
		pinfo.cols.info = string.format("Retransmission request, %d bytes [bad_request]", len)
		return len
	end
	local session = printable(rtrim(tvb(0, 10):string()))
	local seq, count = tvb(10, 8):uint64(), tvb(18, 2):uint()
	add_alpha(root, MF.request_session, tvb(0, 10))
	root:add(MF.request_sequence, tvb(10, 8))
	root:add(MF.request_count, tvb(18, 2))
	local bad
	if len ~= MOLD_HDR_LEN then
		root:add(MF.trailing, tvb(MOLD_HDR_LEN, len - MOLD_HDR_LEN))
		bad = string.format("Retransmission requests are 20 bytes; this one is %d (dadar ignores it)", len)
	elseif seq == UInt64(0) or count == 0 then
		bad = "Retransmission request for sequence number 0 or for 0 messages (dadar ignores it)"
	end
	if bad then root:add_proto_expert_info(ME.bad_request, bad) end
	root:set_text(string.format("MoldUDP64 (dadar), Retransmission Request, %s, seq %s, %d message%s", session,
		tostring(seq), count, count == 1 and "" or "s"))
	pinfo.cols.info = string.format("%s Retransmission request: seq %s, count %d%s", session, tostring(seq), count,
		bad and " [bad_request]" or "")
	return len
end

local function dissect_mold(tvb, pinfo, tree)
	local len = tvb:len()
	if in_ranges(req_ranges, pinfo.dst_port) then return dissect_request(tvb, pinfo, tree) end
	pinfo.cols.protocol = "MoldUDP64"
	local root = tree:add(mold, tvb(0, len))
	local verdict = mold_verdict(tvb)
	local function flag(item)
		if verdict then
			item:add_proto_expert_info(ME[verdict], "dadar drops this datagram whole: " .. VERDICT_TEXT[verdict] ..
				" (mold_" .. verdict .. ")")
		end
	end
	if len < MOLD_HDR_LEN then
		if len > 0 then root:add(MF.short, tvb(0, len)) end
		flag(root)
		pinfo.cols.info = string.format("MoldUDP64, %d bytes: shorter than the header", len)
		return len
	end

	local session = printable(rtrim(tvb(0, 10):string()))
	local seq, count = tvb(10, 8):uint64(), tvb(18, 2):uint()
	add_alpha(root, MF.session, tvb(0, 10))
	root:add(MF.sequence, tvb(10, 8))
	local ci = root:add(MF.count, tvb(18, 2))
	flag(root)

	if count == 0 or count == MOLD_EOS then
		local hb = count == 0
		ci:append_text(hb and " (heartbeat)" or " (end of session)")
		root:add(hb and MF.heartbeat or MF.end_of_session, tvb(18, 2)):set_generated()
		root:add(MF.next_sequence, tvb(10, 8), seq):set_generated()
		root:add_proto_expert_info(hb and ME.heartbeat or ME.end_of_session)
		if len > MOLD_HDR_LEN then root:add(MF.trailing, tvb(MOLD_HDR_LEN, len - MOLD_HDR_LEN)) end
		root:append_text(string.format(", %s, %s, next sequence number %s", session,
			hb and "Heartbeat" or "End of Session", tostring(seq)))
		pinfo.cols.info = string.format("%s %s, next seq %s%s", session, hb and "Heartbeat" or "End of Session",
			tostring(seq), verdict and (" [" .. verdict .. "]") or "")
		return len
	end

	root:add(MF.next_sequence, tvb(10, 8), seq + count):set_generated()
	local kind = message_kind(pinfo)
	local payments = kind == "payment"
	local off = MOLD_HDR_LEN
	local types, order = {}, {}
	for i = 0, count - 1 do
		if len - off < 2 then break end
		local mlen = tvb(off, 2):uint()
		local mseq = seq + i
		local avail = math.min(mlen, len - off - 2)
		local blk = root:add(MF.message, tvb(off, 2 + avail))
		blk:add(MF.message_length, tvb(off, 2))
		blk:add(MF.message_sequence, tvb(off, 2), mseq):set_generated()
		local label = ", seq " .. tostring(mseq)
		if avail < mlen then
			blk:set_text(string.format("Message Block %d, seq %s: %d of %d bytes present", i + 1, tostring(mseq),
				avail, mlen))
			if avail > 0 then blk:add(MF.message_data, tvb(off + 2, avail)) end
			off = len
			break
		end
		local ty, what
		if payments then
			ty = dissect_pay_msg(tvb, off + 2, mlen, pinfo, blk, label)
			what = ty == "P" and "Payment" or "?"
		elseif kind == "output" then
			ty = dissect_out_msg(tvb, off + 2, mlen, pinfo, blk, label)
			what = ty
		else
			ty = dissect_itch_msg(tvb, off + 2, mlen, pinfo, blk, label)
			what = ty and ITCH_MSG[ty] and ITCH_MSG[ty][2] .. " (" .. ty .. ")" or "?"
		end
		ty = ty or "empty"
		blk:set_text(string.format("Message Block %d, seq %s, %d bytes: %s", i + 1, tostring(mseq), mlen, what))
		if not types[ty] then
			types[ty] = 0
			order[#order + 1] = ty
		end
		types[ty] = types[ty] + 1
		off = off + 2 + mlen
	end
	if off < len then root:add(MF.trailing, tvb(off, len - off)) end

	local last = seq + (count - 1)
	root:append_text(string.format(", %s, seq %s..%s, %d message%s", session, tostring(seq), tostring(last),
		count, count == 1 and "" or "s"))
	local parts = {}
	for _, ty in ipairs(order) do
		local c = types[ty]
		parts[#parts + 1] = (payments and ty == "P" and "payment" or printable(ty)) .. (c > 1 and ("×" .. c) or "")
	end
	pinfo.cols.protocol = payments and "DADARPAY" or kind == "output" and "DADAROUT" or "ITCH50"
	pinfo.cols.info = string.format("%s seq %s-%s (%d): %s%s", session, tostring(seq), tostring(last), count,
		table.concat(parts, " "), verdict and (" [" .. verdict .. "]") or "")
	return len
end

function mold.dissector(tvb, pinfo, tree)
	return dissect_mold(tvb, pinfo, tree)
end

-- Heuristic for UDP ports not in the preferences: a printable session and framing that adds up exactly.
local function mold_heuristic(tvb, pinfo, tree)
	if tvb:len() < MOLD_HDR_LEN then return false end
	if tvb(0, 10):raw():find("[^\32-\126]") then return false end
	if mold_verdict(tvb) then return false end
	dissect_mold(tvb, pinfo, tree)
	return true
end
mold:register_heuristic("udp", mold_heuristic)

-- ---- registration --------------------------------------------------------------------------------

local udp_table = DissectorTable.get("udp.port")
local reg_itch, reg_pay, reg_out, reg_req

local function register_ports()
	for _, r in ipairs({ reg_itch, reg_out, reg_req }) do
		if r ~= "" then udp_table:remove(r, mold) end
	end
	if reg_pay and reg_pay ~= 0 then udp_table:remove(reg_pay, mold) end
	reg_itch, reg_pay = tostring(mold.prefs.itch_ports), mold.prefs.payment_port
	out_ranges = parse_ranges(mold.prefs.output_ports)
	reg_req = request_range(out_ranges)
	req_ranges = parse_ranges(reg_req)
	reg_out = tostring(mold.prefs.output_ports)
	for _, r in ipairs({ reg_itch, reg_out, reg_req }) do
		if r ~= "" then udp_table:add(r, mold) end
	end
	if reg_pay ~= 0 then udp_table:add(reg_pay, mold) end
end

function mold.prefs_changed()
	register_ports()
end

register_ports()
pcall(function() udp_table:add_for_decode_as(mold) end)

-- Offer itch50, dadarpay and dadarout in Decode As of Wireshark's built-in MoldUDP64 dissector, for
-- whoever uses it.
pcall(function()
	local t = DissectorTable.get("moldudp64.payload")
	t:add_for_decode_as(itch)
	t:add_for_decode_as(pay)
	t:add_for_decode_as(outp)
end)
