// Package faultproxy is a TCP proxy on 127.0.0.1 that injects network
// faults between a client and a server (here: a service and its Redis), for
// tests and the chaos run:
//
//   - SetLatency delays every chunk of bytes, in both directions;
//   - Partition stalls one direction or both: bytes are held, never lost, as
//     TCP does while packets are dropped, and flow again after Heal;
//   - Drop closes every open connection on both sides (the client sees a
//     reset or EOF);
//   - HalfOpen silently forgets the server side of every open connection:
//     the client's socket stays open, its writes succeed and it never gets an
//     answer, as when the server's host died or a middlebox lost the state.
//
// New connections get the current latency and partition. Only loopback
// addresses are accepted.
package faultproxy

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Direction names the direction(s) of a partition.
type Direction int

const (
	// ToServer stalls what the client sends.
	ToServer Direction = 1 << iota
	// ToClient stalls what the server answers.
	ToClient
	// Both stalls both directions.
	Both = ToServer | ToClient
)

// Proxy forwards connections from its Addr to a target. Create it with
// Start; it is safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	latency atomic.Int64 // time.Duration

	mu      sync.Mutex
	cut     Direction     // directions partitioned now
	healed  chan struct{} // closed by Heal; replaced by Partition
	conns   map[*link]struct{}
	closed  bool
	accepts sync.WaitGroup
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	halfOpen       atomic.Bool
	pumps          atomic.Int32 // pumps still running
	once           sync.Once
}

// Start listens on a free 127.0.0.1 port and forwards every connection to
// target, which must be a loopback address.
func Start(target string) (*Proxy, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("faultproxy: target %s is not a loopback address", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	healed := make(chan struct{})
	close(healed)
	p := &Proxy{target: target, ln: ln, healed: healed, conns: make(map[*link]struct{})}
	p.accepts.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's "127.0.0.1:port": point the client here.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetLatency delays every chunk forwarded, in either direction, by d (0: no
// delay).
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// Partition stalls dir until Heal. Bytes already in flight in a stalled
// direction are held and delivered after Heal, in order.
func (p *Proxy) Partition(dir Direction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut == 0 {
		p.healed = make(chan struct{})
	}
	p.cut |= dir
}

// Heal ends every partition.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut != 0 {
		p.cut = 0
		close(p.healed)
	}
}

// Drop closes every open connection, both sides.
func (p *Proxy) Drop() {
	for _, l := range p.links() {
		l.close()
	}
}

// HalfOpen closes the server side of every open connection and leaves the
// client side open and silent: what the client writes is discarded and it
// never reads an answer, until it closes the connection itself.
func (p *Proxy) HalfOpen() {
	for _, l := range p.links() {
		l.halfOpen.Store(true)
		l.server.Close()
	}
}

// Conns reports how many connections are open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops listening, heals every partition and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.accepts.Wait()
	p.Heal()
	p.Drop()
	return err
}

func (p *Proxy) links() []*link {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		ls = append(ls, l)
	}
	return ls
}

func (p *Proxy) accept() {
	defer p.accepts.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s}
		l.pumps.Store(2)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.close()
			return
		}
		p.conns[l] = struct{}{}
		p.mu.Unlock()
		go p.pump(l, l.client, l.server, ToServer)
		go p.pump(l, l.server, l.client, ToClient)
	}
}

// pump copies src to dst, one chunk at a time, waiting out partitions of dir
// and the latency before each write.
func (p *Proxy) pump(l *link, src, dst net.Conn, dir Direction) {
	defer p.forget(l)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(dir) {
				l.close()
				return
			}
			if dir == ToServer && l.halfOpen.Load() {
				continue // the server is gone: swallow what the client says
			}
			if _, werr := dst.Write(buf[:n]); werr != nil && !l.halfOpen.Load() {
				l.close()
				return
			}
		}
		if err != nil {
			if dir == ToClient && l.halfOpen.Load() {
				return // leave the client's side open and silent
			}
			l.close()
			return
		}
	}
}

// wait blocks while dir is partitioned, then sleeps the latency. It reports
// false if the proxy closed meanwhile.
func (p *Proxy) wait(dir Direction) bool {
	for {
		p.mu.Lock()
		cut, healed, closed := p.cut&dir != 0, p.healed, p.closed
		p.mu.Unlock()
		if closed {
			return false
		}
		if !cut {
			break
		}
		<-healed
	}
	if d := time.Duration(p.latency.Load()); d > 0 {
		time.Sleep(d)
	}
	return true
}

// forget drops l once both its pumps have returned.
func (p *Proxy) forget(l *link) {
	if l.pumps.Add(-1) > 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, l)
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		l.server.Close()
	})
}
