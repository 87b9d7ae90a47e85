package ui

import (
	"reflect"
	"testing"
)

func TestFollow(t *testing.T) {
	const c, s = 0, 1
	seg := func(dir int, seq uint32, payload string, flags ...string) Segment {
		x := Segment{Dir: dir, Seq: seq, Payload: []byte(payload)}
		for _, f := range flags {
			switch f {
			case "S":
				x.SYN = true
			case "F":
				x.FIN = true
			case "R":
				x.RST = true
			}
		}
		return x
	}
	type chunk struct {
		dir  int
		data string
	}
	for _, tc := range []struct {
		name string
		segs []Segment
		want []chunk
	}{
		{"in order, SYN and FIN take one number each", []Segment{
			seg(c, 100, "", "S"), seg(s, 500, "", "S"), seg(c, 101, "GET /"), seg(s, 501, "200 OK"),
			seg(c, 106, "", "F"), seg(s, 507, "", "F"),
		}, []chunk{{c, "GET /"}, {s, "200 OK"}}},
		{"a retransmission is read once", []Segment{
			seg(c, 1, "", "S"), seg(c, 2, "abc"), seg(c, 2, "abc"), seg(c, 5, "def"),
		}, []chunk{{c, "abcdef"}}},
		{"an overlap gives only its new bytes", []Segment{
			seg(c, 1, "", "S"), seg(c, 2, "abcd"), seg(c, 4, "cdefg"),
		}, []chunk{{c, "abcdefg"}}},
		{"out of order waits for its predecessor", []Segment{
			seg(c, 1, "", "S"), seg(c, 5, "def"), seg(s, 900, "", "S"), seg(s, 901, "x"), seg(c, 2, "abc"),
		}, []chunk{{s, "x"}, {c, "abcdef"}}},
		{"a FIN out of order", []Segment{
			seg(c, 1, "", "S"), seg(c, 5, "", "F"), seg(c, 2, "abc"),
		}, []chunk{{c, "abc"}}},
		{"sequence numbers wrap", []Segment{
			seg(c, 0xfffffffe, "", "S"), seg(c, 0xffffffff, "ab"), seg(c, 1, "cd"),
		}, []chunk{{c, "abcd"}}},
		{"no SYN seen: the first segment starts the stream", []Segment{
			seg(c, 70, "hello "), seg(s, 9, "hi"), seg(c, 76, "world"),
		}, []chunk{{c, "hello "}, {s, "hi"}, {c, "world"}}},
		{"a gap never filled: what follows comes after it", []Segment{
			seg(c, 1, "", "S"), seg(c, 2, "ab"), seg(c, 10, "xy"),
		}, []chunk{{c, "abxy"}}},
		{"a retransmitted SYN adds nothing", []Segment{
			seg(c, 1, "", "S"), seg(c, 1, "", "S"), seg(c, 2, "a"),
		}, []chunk{{c, "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []chunk
			for _, ch := range Follow(tc.segs) {
				got = append(got, chunk{ch.Dir, string(ch.Data)})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
