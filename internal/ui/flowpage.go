package ui

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/packetrecorderd/packetrecorderd/internal/decode"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Bounds of what one flow page reads and shows.
const (
	maxFlowPackets    = 5000    // packets listed
	maxTranscriptSize = 4 << 20 // payload bytes followed
)

type chunkView struct {
	Client bool
	Text   string // printable ASCII, others as '.'
	Hex    string // a hex dump
	Raw    string // the bytes in hex, one string
}

type layerView struct {
	Name   string
	Detail string
}

func (s *Server) handleFlow(w http.ResponseWriter, r *http.Request, c *call) error {
	q := s.parseQuery(r)
	if q.err == "" && !q.hasCID {
		q.err = "a flow is named by its community_id"
	}
	d := map[string]any{"Title": "Flow " + q.communityID, "Since": q.since, "Until": q.until, "Form": s.form(q)}
	sel, _ := strconv.Atoi(r.URL.Query().Get("packet"))
	hexView := r.URL.Query().Get("view") == "hex"
	d["HexView"] = hexView
	d["ASCIILink"] = "/ui/flow?" + q.values("view", "", "packet", r.URL.Query().Get("packet")).Encode() + "#transcript"
	d["HexLink"] = "/ui/flow?" + q.values("view", "hex", "packet", r.URL.Query().Get("packet")).Encode() + "#transcript"
	if q.err != "" {
		s.render(w, http.StatusOK, "flow", c, d)
		return nil
	}
	var rows []packetRow
	var segs []Segment
	var udp []Chunk
	var client flow.Key
	var haveClient, truncated bool
	var selected *store.Record
	var totalBytes int64
	var follow int
	err := s.opts.API.Query(r.Context(), r, c.p, q.uiQuery("flow"), func(ctx context.Context) (int64, int64, error) {
		sl, err := openSelection(ctx, s.src, c.p, query{iface: q.iface, r: q.r, communityID: q.communityID})
		if err != nil {
			return 0, 0, err
		}
		defer func() { d["Missing"] = sl.missing(); sl.close() }()
		sum := decode.NewSummarizer()
		var pk flow.Packet
		var n int64
		err = sl.walk(ctx, 0, func(rec store.Record) error {
			if !flow.Extract(rec.LinkType, rec.Data, &pk) || pk.Key.ID(0) != q.cid {
				return nil
			}
			n++
			totalBytes += int64(len(rec.Data))
			if len(rows) >= maxFlowPackets {
				truncated = true
				return nil
			}
			if !haveClient || pk.TCPFlags&(flow.SYN|flow.ACK) == flow.SYN && len(rows) == 0 {
				client, haveClient = pk.Key, true
			}
			i := len(rows)
			link := "/ui/flow?" + q.values("packet", strconv.Itoa(i), "view", r.URL.Query().Get("view")).Encode() + "#packet"
			rows = append(rows, packetRow{N: int64(i + 1), Time: fmtTime(rec.Timestamp), Iface: sl.interfaceName(rec), Len: rec.OrigLen,
				Summary: sum.Summary(rec.LinkType, rec.Data, rec.OrigLen), Link: link})
			if i == sel {
				cp := rec
				cp.Data = append([]byte(nil), rec.Data...)
				selected = &cp
			}
			dir := 0
			if pk.Key.Src != client.Src || pk.Key.SrcPort != client.SrcPort {
				dir = 1
			}
			if follow < maxTranscriptSize {
				if sg, ok := transportOf(rec); ok {
					sg.Dir = dir
					follow += len(sg.Payload)
					if sg.udp {
						if len(sg.Payload) > 0 {
							udp = append(udp, Chunk{Dir: dir, Data: sg.Payload})
						}
					} else {
						segs = append(segs, sg.Segment)
					}
				}
			}
			return nil
		})
		return n, totalBytes, err
	})
	msg, err := readErr(err)
	if err != nil {
		return err
	}
	if msg != "" {
		d["Form"] = withErr(d["Form"].(form), msg)
	}
	chunks := udp
	if len(segs) > 0 {
		chunks = Follow(segs)
	}
	var cv []chunkView
	var clientBytes, serverBytes int
	for _, ch := range chunks {
		cv = append(cv, chunkView{Client: ch.Dir == 0, Text: printable(ch.Data), Hex: hexDump(ch.Data), Raw: hex.EncodeToString(ch.Data)})
		if ch.Dir == 0 {
			clientBytes += len(ch.Data)
		} else {
			serverBytes += len(ch.Data)
		}
	}
	d["Rows"], d["Chunks"], d["Truncated"] = rows, cv, truncated
	d["ClientBytes"], d["ServerBytes"] = clientBytes, serverBytes
	d["TranscriptCut"] = follow >= maxTranscriptSize
	if haveClient {
		ports := client.HasPorts && client.Proto != flow.ProtoICMP && client.Proto != flow.ProtoICMPv6
		d["Client"] = flow.Endpoint(client.Src, client.SrcPort, ports)
		d["Server"] = flow.Endpoint(client.Dst, client.DstPort, ports)
		d["Proto"] = flow.ProtoName(client.Proto)
		d["Download"] = downloadLink(flowFilter(client), q)
		d["DownloadSize"] = fmt.Sprintf("%d packets, %s of packet data", len(rows), fmtBytes(totalBytes))
	}
	if selected != nil {
		d["Selected"] = sel + 1
		d["SelectedHex"] = hexDump(selected.Data)
		d["Layers"] = layersOf(selected)
	}
	s.render(w, http.StatusOK, "flow", c, d)
	return nil
}

// flowFilter is a filter in tcpdump's language that selects the flow's
// packets (and those of the same two endpoints with the ports swapped).
func flowFilter(k flow.Key) string {
	proto := strings.ToLower(flow.ProtoName(k.Proto))
	f := fmt.Sprintf("host %s and host %s", k.Src, k.Dst)
	switch k.Proto {
	case flow.ProtoTCP, flow.ProtoUDP, flow.ProtoSCTP:
		f = fmt.Sprintf("%s and %s port %d and %s port %d", f, proto, k.SrcPort, proto, k.DstPort)
	case flow.ProtoICMP:
		f += " and icmp"
	case flow.ProtoICMPv6:
		f += " and icmp6"
	default:
		f += fmt.Sprintf(" and ip proto %d", k.Proto)
	}
	return f
}

type transport struct {
	Segment
	udp bool
}

// transportOf finds the innermost TCP or UDP header of a frame and its
// payload (cut at the IP packet's length).
func transportOf(rec store.Record) (transport, bool) {
	pkt := gopacket.NewPacket(rec.Data, layers.LinkType(rec.LinkType), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	if l, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && l != nil {
		return transport{Segment: Segment{Seq: l.Seq, SYN: l.SYN, FIN: l.FIN, RST: l.RST, Payload: append([]byte(nil), l.Payload...)}}, true
	}
	if l, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && l != nil {
		return transport{Segment: Segment{Payload: append([]byte(nil), l.Payload...)}, udp: true}, true
	}
	return transport{}, false
}

// layersOf decodes one packet's layers for the detail view.
func layersOf(rec *store.Record) []layerView {
	pkt := gopacket.NewPacket(rec.Data, layers.LinkType(rec.LinkType), gopacket.Default)
	var out []layerView
	for _, l := range pkt.Layers() {
		detail := strings.TrimSpace(gopacket.LayerString(l))
		if i := strings.Index(detail, "\t"); i >= 0 {
			detail = detail[i+1:]
		}
		detail = strings.TrimSuffix(strings.TrimPrefix(detail, "{"), "}")
		detail = layerNoise.ReplaceAllString(detail, "")
		if len(detail) > 2000 {
			detail = detail[:2000] + "…"
		}
		out = append(out, layerView{Name: l.LayerType().String(), Detail: detail})
	}
	if el := pkt.ErrorLayer(); el != nil {
		out = append(out, layerView{Name: "Error", Detail: el.Error().Error()})
	}
	return out
}

// layerNoise are the fields of gopacket's dump that say nothing to a reader.
var layerNoise = regexp.MustCompile(`(Contents|Payload|BaseLayer)=\[[^\]]*\] ?`)

// printable is b with bytes that are not printable ASCII (but newlines
// and tabs) shown as '.'.
func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for i, c := range b {
		switch {
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			// CRLF ends a line, as Wireshark shows it.
		case c >= 0x20 && c < 0x7f || c == '\n' || c == '\t':
			out = append(out, c)
		default:
			out = append(out, '.')
		}
	}
	return string(out)
}

// hexDump is b as tcpdump -X shows it: offset, 16 bytes in hex, ASCII.
func hexDump(b []byte) string {
	var sb strings.Builder
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		fmt.Fprintf(&sb, "%08x  ", off)
		for i := 0; i < 16; i++ {
			if i < len(line) {
				fmt.Fprintf(&sb, "%02x ", line[i])
			} else {
				sb.WriteString("   ")
			}
			if i == 7 {
				sb.WriteByte(' ')
			}
		}
		sb.WriteString(" ")
		for _, c := range line {
			if c >= 0x20 && c < 0x7f {
				sb.WriteByte(c)
			} else {
				sb.WriteByte('.')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
