package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echo serves lines back on a loopback port; gone receives a value when a
// connection's server side ends.
func echo(t *testing.T) (addr string, gone chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	gone = make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { gone <- struct{}{} }()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String(), gone
}

func dial(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, timeout time.Duration) error {
	t.Helper()
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err == nil && line != "ping\n" {
		t.Fatalf("echo %q", line)
	}
	return err
}

func start(t *testing.T) (*Proxy, chan struct{}) {
	t.Helper()
	addr, gone := echo(t)
	p, err := Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, gone
}

func TestStartRefusesNonLoopback(t *testing.T) {
	if _, err := Start("192.0.2.1:6379"); err == nil {
		t.Fatal("accepted a non-loopback target")
	}
}

func TestLatency(t *testing.T) {
	p, _ := start(t)
	c, r := dial(t, p)
	const d = 50 * time.Millisecond
	p.SetLatency(d)
	begin := time.Now()
	if err := roundTrip(t, c, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 2*d {
		t.Fatalf("round trip took %v with %v each way", took, d)
	}
}

func TestPartitionHoldsThenDelivers(t *testing.T) {
	for _, dir := range []Direction{ToServer, ToClient, Both} {
		p, _ := start(t)
		c, r := dial(t, p)
		if err := roundTrip(t, c, r, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		p.Partition(dir)
		if err := roundTrip(t, c, r, 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("direction %d partitioned: %v, want a timeout", dir, err)
		}
		p.Heal()
		// The held ping arrives, then a new one.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
			t.Fatalf("after Heal: %q %v", line, err)
		}
		if err := roundTrip(t, c, r, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDrop(t *testing.T) {
	p, gone := start(t)
	c, r := dial(t, p)
	if err := roundTrip(t, c, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Drop()
	<-gone
	if err := roundTrip(t, c, r, 10*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after Drop: %v, want the connection closed", err)
	}
	c2, r2 := dial(t, p) // new connections work
	if err := roundTrip(t, c2, r2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestHalfOpen(t *testing.T) {
	p, gone := start(t)
	c, r := dial(t, p)
	if err := roundTrip(t, c, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.HalfOpen()
	<-gone // the server side is closed
	// The client's writes succeed; no answer ever comes, and no EOF either.
	if err := roundTrip(t, c, r, 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("half-open: %v, want a timeout", err)
	}
	c2, r2 := dial(t, p)
	if err := roundTrip(t, c2, r2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for p.Conns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still tracked after both clients closed", p.Conns())
		}
		// A poll: the proxy notices the clients' closes on its own
		// goroutines and exposes no event for it.
		time.Sleep(5 * time.Millisecond)
	}
}
