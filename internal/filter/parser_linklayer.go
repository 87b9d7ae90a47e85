package filter

import (
	"fmt"
	"strings"
)

// The 802.11, ATM and SS7 rules of grammar.y (p80211, atmtype,
// atmfield atmvalue, mtp2type, mtp3field mtp3value).

// 802.11 type and subtype names (grammar.y's ieee80211_*_subtypes).
type wlanName struct {
	name string
	v    uint32
}

var wlanTypes = []wlanName{
	{"data", wlanTypeData}, {"mgt", wlanTypeMgt}, {"management", wlanTypeMgt},
	{"ctl", wlanTypeCtl}, {"control", wlanTypeCtl},
}

var wlanSubtypes = []struct {
	typ   uint32
	names []wlanName
}{
	{wlanTypeMgt, []wlanName{
		{"assocreq", 0x00}, {"assoc-req", 0x00}, {"assocresp", 0x10}, {"assoc-resp", 0x10},
		{"reassocreq", 0x20}, {"reassoc-req", 0x20}, {"reassocresp", 0x30}, {"reassoc-resp", 0x30},
		{"probereq", 0x40}, {"probe-req", 0x40}, {"proberesp", 0x50}, {"probe-resp", 0x50},
		{"beacon", 0x80}, {"atim", 0x90}, {"disassoc", 0xa0}, {"disassociation", 0xa0},
		{"auth", 0xb0}, {"authentication", 0xb0}, {"deauth", 0xc0}, {"deauthentication", 0xc0},
	}},
	{wlanTypeCtl, []wlanName{
		{"ps-poll", 0xa0}, {"rts", 0xb0}, {"cts", 0xc0}, {"ack", 0xd0},
		{"cf-end", 0xe0}, {"cf-end-ack", 0xf0},
	}},
	{wlanTypeData, []wlanName{
		{"data", 0x00}, {"data-cf-ack", 0x10}, {"data-cf-poll", 0x20}, {"data-cf-ack-poll", 0x30},
		{"null", 0x40}, {"cf-ack", 0x50}, {"cf-poll", 0x60}, {"cf-ack-poll", 0x70},
		{"qos-data", 0x80}, {"qos-data-cf-ack", 0x90}, {"qos-data-cf-poll", 0xa0},
		{"qos-data-cf-ack-poll", 0xb0}, {"qos", 0xc0}, {"qos-cf-poll", 0xe0}, {"qos-cf-ack-poll", 0xf0},
	}},
}

var wlanDirs = []wlanName{{"nods", 0}, {"tods", 1}, {"fromds", 2}, {"dstods", 3}}

// lookupName finds name in names, ignoring case (pcap_strcasecmp).
func lookupName(names []wlanName, name string) (uint32, bool) {
	for _, n := range names {
		if strings.EqualFold(n.name, name) {
			return n.v, true
		}
	}
	return 0, false
}

// parse80211 parses what follows "type", "subtype" or "dir". Values
// libpcap's grammar refuses become a failNode with its message.
func (p *parser) parse80211(k tokKind) (node, bool) {
	t := p.peek()
	if t.kind != tNum && t.kind != tID {
		p.fail()
		return nil, false
	}
	switch k {
	case tDir:
		p.next()
		if t.kind == tNum {
			return otherNode{kind: o80211Dir, num: t.num}, true
		}
		v, ok := lookupName(wlanDirs, t.text)
		if !ok {
			return failNode{"filter: unknown 802.11 direction"}, true
		}
		return otherNode{kind: o80211Dir, num: v}, true
	case tSubtype:
		if t.kind != tID {
			p.fail()
			return nil, false
		}
		p.next()
		for _, st := range wlanSubtypes {
			if v, ok := lookupName(st.names, t.text); ok {
				return otherNode{kind: o80211Type, num: v | st.typ, num2: wlanTypeMask | wlanSubtypeMask}, true
			}
		}
		return failNode{"filter: unknown 802.11 type name"}, true
	}
	p.next()
	var typ uint32
	var bad node
	if t.kind == tNum {
		typ = t.num
		if typ&^wlanTypeMask != 0 {
			bad = failNode{fmt.Sprintf("filter: invalid 802.11 type value 0x%02x", typ)}
		}
	} else {
		v, ok := lookupName(wlanTypes, t.text)
		if !ok {
			bad = failNode{fmt.Sprintf("filter: unknown 802.11 type name \"%s\"", t.text)}
		}
		typ = v
	}
	if bad != nil {
		// libpcap stops at the first semantic error; consume a
		// following subtype so that the rest of the expression parses.
		if p.peek().kind == tSubtype && (p.peekAt(1).kind == tNum || p.peekAt(1).kind == tID) {
			p.next()
			p.next()
		}
		return bad, true
	}
	if p.peek().kind != tSubtype {
		return otherNode{kind: o80211Type, num: typ, num2: wlanTypeMask}, true
	}
	p.next()
	st := p.peek()
	switch st.kind {
	case tNum:
		p.next()
		if st.num&^wlanSubtypeMask != 0 {
			return failNode{fmt.Sprintf("filter: invalid 802.11 subtype value 0x%02x", st.num)}, true
		}
		return otherNode{kind: o80211Type, num: typ | st.num, num2: wlanTypeMask | wlanSubtypeMask}, true
	case tID:
		p.next()
		for _, s := range wlanSubtypes {
			if s.typ != typ {
				continue
			}
			v, ok := lookupName(s.names, st.text)
			if !ok {
				return failNode{fmt.Sprintf("filter: unknown 802.11 subtype name \"%s\"", st.text)}, true
			}
			return otherNode{kind: o80211Type, num: typ | v, num2: wlanTypeMask | wlanSubtypeMask}, true
		}
		return failNode{"filter: unknown 802.11 type"}, true
	}
	p.fail()
	return nil, false
}

// fieldKeywords are the ATM and SS7 keywords that take a value.
var fieldKeywords = map[string]bool{
	"vpi": true, "vci": true,
	"sio": true, "opc": true, "dpc": true, "sls": true,
	"hsio": true, "hopc": true, "hdpc": true, "hsls": true,
}

// parseField parses an ATM or SS7 keyword and, for a field, its value:
// NUM, relop NUM, irelop NUM, or '(' NUM or NUM ... ')'.
func (p *parser) parseField(kw string) (node, bool) {
	if kw == "lsu" {
		kw = "lssu"
	}
	if !fieldKeywords[kw] {
		return fieldNode{kw: kw}, true
	}
	t := p.next()
	switch t.kind {
	case tNum:
		return fieldNode{kw, []fieldTest{{op: jmpJEQ, v: t.num}}}, true
	case tGT, tGE, tEq, tLE, tLT, tNE:
		ops := map[tokKind]fieldTest{
			tGT: {op: jmpJGT}, tGE: {op: jmpJGE}, tEq: {op: jmpJEQ},
			tLE: {op: jmpJGT, reversed: true}, tLT: {op: jmpJGE, reversed: true}, tNE: {op: jmpJEQ, reversed: true},
		}
		ft := ops[t.kind]
		if p.peek().kind != tNum {
			p.fail()
			return nil, false
		}
		ft.v = p.next().num
		return fieldNode{kw, []fieldTest{ft}}, true
	case tLParen:
		var tests []fieldTest
		for {
			if p.peek().kind != tNum {
				p.fail()
				return nil, false
			}
			tests = append(tests, fieldTest{op: jmpJEQ, v: p.next().num})
			switch p.next().kind {
			case tOr:
				continue
			case tRParen:
				return fieldNode{kw, tests}, true
			}
			p.i--
			p.fail()
			return nil, false
		}
	}
	p.i--
	p.fail()
	return nil, false
}

// parsePF parses the argument of a PFLOG keyword (grammar.y's pfvar):
// an ID for "on"/"ifname", "rset"/"ruleset" and "action", an ID or a
// number for "reason", a number for "rnr" and "srnr". An unknown
// reason or action name is libpcap's error.
func (p *parser) parsePF(k tokKind) (node, bool) {
	t := p.peek()
	switch k {
	case tPFIfname, tPFRset:
		if t.kind != tID {
			p.fail()
			return nil, false
		}
		p.next()
		what := "ifname"
		if k == tPFRset {
			what = "ruleset"
		}
		return pfNode{what: what, s: t.text}, true
	case tPFRnr, tPFSrnr:
		if t.kind != tNum {
			p.fail()
			return nil, false
		}
		p.next()
		what := "rnr"
		if k == tPFSrnr {
			what = "srnr"
		}
		return pfNode{what: what, num: t.num}, true
	case tPFReason:
		switch t.kind {
		case tNum:
			p.next()
			return pfNode{what: "reason", num: t.num}, true
		case tID:
			p.next()
			v, ok := lookupName(pflogReasons, t.text)
			if !ok {
				return failNode{fmt.Sprintf("filter: unknown PF reason \"%s\"", t.text)}, true
			}
			return pfNode{what: "reason", num: v}, true
		}
	case tPFAction:
		if t.kind == tID {
			p.next()
			v, ok := lookupName(pflogActions, t.text)
			if !ok {
				return failNode{fmt.Sprintf("filter: unknown PF action \"%s\"", t.text)}, true
			}
			return pfNode{what: "action", num: v}, true
		}
	}
	p.fail()
	return nil, false
}
