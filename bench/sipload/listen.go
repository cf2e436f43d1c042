package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/emiago/sipgo"
)

// socketBuffer is the UDP socket buffer asked for, as SIPp's
// -buff_size 4194304: with the default ~200 KiB a burst at 1,000+ calls/s
// overflows the receive queue and shows up as retransmissions and timeouts
// that are the driver's fault, not the target's (NOTES.md, SIPp).
const socketBuffer = 4 << 20

// listener is one sipgo server's sockets and the goroutines serving them.
type listener struct {
	udp *net.UDPConn
	tcp net.Listener
	wg  sync.WaitGroup
}

// listen binds UDP (and TCP on the same port when withTCP) on addr and
// serves srv on them until Close. Port 0 picks a free port for both.
// bound, if not nil, is told the bound address before anything is served,
// so that handlers may read what it sets without a race.
func listen(srv *sipgo.Server, addr string, withTCP bool, bound func(*net.UDPAddr), log *slog.Logger) (*listener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	l := &listener{}
	// With port 0 the kernel picks a free UDP port, which another
	// process may hold for TCP: pick again a few times before giving up.
	for try := 0; ; try++ {
		if l.udp, err = net.ListenUDP("udp", ua); err != nil {
			return nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		if !withTCP {
			break
		}
		bound := l.udp.LocalAddr().(*net.UDPAddr)
		if l.tcp, err = net.ListenTCP("tcp", &net.TCPAddr{IP: bound.IP, Port: bound.Port}); err == nil {
			break
		}
		l.udp.Close()
		if ua.Port != 0 || try == 7 {
			return nil, fmt.Errorf("listen tcp %s: %w", bound, err)
		}
	}
	// Best effort: the kernel caps both at net.core.[rw]mem_max.
	_ = l.udp.SetReadBuffer(socketBuffer)
	_ = l.udp.SetWriteBuffer(socketBuffer)
	if bound != nil {
		bound(l.addr())
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := srv.ServeUDP(l.udp); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Warn("udp serve ended", "error", err)
		}
	}()
	if l.tcp != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := srv.ServeTCP(l.tcp); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Warn("tcp serve ended", "error", err)
			}
		}()
	}
	return l, nil
}

// addr is the bound UDP address (TCP has the same port).
func (l *listener) addr() *net.UDPAddr { return l.udp.LocalAddr().(*net.UDPAddr) }

// Close closes the sockets and waits for the serving goroutines.
func (l *listener) Close() {
	l.udp.Close()
	if l.tcp != nil {
		l.tcp.Close()
	}
	l.wg.Wait()
}
