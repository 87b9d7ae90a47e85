package api

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestListenerLimits: a client address gets at most PerClient open
// connections, all clients together at most Total; the excess is closed
// at once, and a closed connection frees its slot.
func TestListenerLimits(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, ConnLimits{Total: 5, PerClient: 3}, nil)
	defer ln.Close()
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	// A dial the server resets at once may fail itself: nil stands for it.
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			return nil
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedByServer tells a connection the server closed from one it
	// keeps open (a read that times out).
	closedByServer := func(c net.Conn) bool {
		if c == nil {
			return true
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return err == io.EOF || err != nil
	}
	var a []net.Conn
	for range 5 {
		a = append(a, dial("127.0.0.2"))
	}
	for i, c := range a {
		if got, want := closedByServer(c), i >= 3; got != want {
			t.Errorf("client A's connection %d: closed %v, want %v", i, got, want)
		}
	}
	var b []net.Conn
	for range 3 {
		b = append(b, dial("127.0.0.3"))
	}
	for i, c := range b {
		if got, want := closedByServer(c), i >= 2; got != want {
			t.Errorf("client B's connection %d: closed %v, want %v (5 in all)", i, got, want)
		}
	}
	if ln.Open() != 5 || ln.Refused() != 3 {
		t.Errorf("open %d, refused %d; want 5 and 3", ln.Open(), ln.Refused())
	}
	// A connection the server closes gives its slot back.
	(<-accepted).Close()
	if c := dial("127.0.0.3"); closedByServer(c) {
		t.Errorf("a freed slot was not given to the next client")
	}
}
