package rewrite

import (
	"bytes"
	"testing"
)

// FuzzFrame runs every entry point over arbitrary bytes: none may panic
// or read past the frame, segments never exceed the MTU, and a frame that
// fits goes out untouched.
func FuzzFrame(f *testing.F) {
	for _, sp := range specs {
		src, dst := addrs(sp.v6)
		fr := sp.frame(f, src, dst, 40000, 80)
		f.Add(fr, uint16(1500))
		for _, n := range []int{13, 14, 17, 18, 33, 34, 37, 53, 54, 57, 73} {
			if n < len(fr) {
				f.Add(fr[:n], uint16(68))
			}
		}
	}
	big := frameSpec{v6: true, hbh: true, proto: "udp", payload: 5000}.frame(f, "2001:db8::1", "2001:db8::2", 1, 2)
	f.Add(big, uint16(1280))
	cfg := Config{FixChecksums: true, Ports: PortMap{80: 8080, 40000: 1}, SrcMAC: macA, DstMAC: macB}
	cfg.SrcIP, _ = ParseIPMaps("10.0.0.0/8:192.168.0.0/16,2001:db8::/32:fd00::/16")
	cfg.DstIP, _ = ParseIPMaps("0.0.0.0/0:1.2.3.4/32,::/0:fd99::/120")
	f.Fuzz(func(t *testing.T, data []byte, mtu uint16) {
		for _, lt := range []uint32{LinkEthernet, LinkRaw} {
			fr := bytes.Clone(data)
			New(cfg).Apply(lt, fr)
			s := NewSegmenter(int(mtu))
			fits := s.Fits(lt, fr)
			segs, err := s.Split(lt, bytes.Clone(fr))
			if err == nil {
				if fits && (len(segs) != 1 || !bytes.Equal(segs[0], fr)) {
					t.Fatalf("a frame that fits came out changed")
				}
				for _, seg := range segs {
					if !fits && l3Len(lt, seg) > int(mtu) {
						t.Fatalf("segment of %d bytes of IP over the MTU %d", l3Len(lt, seg), mtu)
					}
				}
			}
			if tr := Truncate(lt, bytes.Clone(fr), int(mtu)); len(tr) > len(fr) {
				t.Fatalf("truncation grew the frame")
			}
		}
	})
}
