package httpuser

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sources spreads users over local addresses. Linux gives each pair of a
// local address and a remote address and port one ephemeral port range
// (net.ipv4.ip_local_port_range, about 28,000 ports by default), so one
// source address reaches one target port with at most that many
// connections at once; every other loopback address (127.0.0.2, ...) is
// another range. Each user keeps the address it was given for all its
// connections.
type Sources struct {
	addrs []*net.TCPAddr
	n     atomic.Uint64
}

// NewSources returns Sources over addrs, which must be IP addresses.
func NewSources(addrs []netip.Addr) *Sources {
	s := &Sources{}
	for _, a := range addrs {
		s.addrs = append(s.addrs, net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	}
	return s
}

// Len is how many addresses there are.
func (s *Sources) Len() int {
	if s == nil {
		return 0
	}
	return len(s.addrs)
}

// next is the address for the next user; nil (the kernel chooses) when
// there are none.
func (s *Sources) next() *net.TCPAddr {
	if s.Len() == 0 {
		return nil
	}
	return s.addrs[(s.n.Add(1)-1)%uint64(len(s.addrs))]
}

// ParseSources reads a list of source addresses: "127.0.0.2,127.0.0.3",
// or a loopback range "127.0.0.1-127.0.0.4".
func ParseSources(list string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		first, last, isRange := strings.Cut(f, "-")
		a, err := netip.ParseAddr(first)
		if err != nil {
			return nil, fmt.Errorf("source address %q: not an IP address", first)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, err := netip.ParseAddr(last)
		if err != nil {
			return nil, fmt.Errorf("source address %q: not an IP address", last)
		}
		if !a.Is4() || !b.Is4() || b.Less(a) {
			return nil, fmt.Errorf("source range %q: want FIRST-LAST, IPv4, in order", f)
		}
		for x := a; ; x = x.Next() {
			out = append(out, x)
			if len(out) > maxSources {
				return nil, fmt.Errorf("source addresses %q: more than %d", list, maxSources)
			}
			if x == b {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no source address given")
	}
	return out, nil
}

// maxSources bounds a range typed by mistake (127.0.0.1-127.255.255.255).
const maxSources = 1024

// bindAddressNoPort lets the kernel choose the local port at connect, for
// the whole four-tuple, instead of at bind, where a port is taken from the
// range for the source address alone whatever the destination.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// EphemeralPorts is how many local ports the kernel hands out to one
// source address for one destination (net.ipv4.ip_local_port_range);
// 28,232, Linux's default, when it cannot be read.
func EphemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28232
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 28232
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 28232
	}
	return hi - lo + 1
}
