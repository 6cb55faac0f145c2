package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Backlog is the listen(2) backlog: the queue where connections wait when a
// model does not accept them fast enough. The kernel caps it at somaxconn.
const Backlog = 4096

// Listen opens a TCP listener on addr ("127.0.0.1:8080", "[::1]:0",
// ":8080") that no other process shares: if anything listens there already,
// a target started earlier included, it fails with "address already in use"
// (errors.Is unix.EADDRINUSE). The socket is bound without SO_REUSEPORT, so
// that the bind meets every listener already there, and only then gets the
// option, so that the reactor can add its own listeners with ListenShared.
// The socket is blocking and close-on-exec. It returns the descriptor and
// the address it is bound to.
func Listen(addr string) (int, string, error) {
	return listen(addr, false)
}

// ListenShared opens one more listener on the address of a listener Listen
// opened (port 0 already resolved), with SO_REUSEPORT, so that the kernel
// spreads new connections over both.
func ListenShared(addr string) (int, string, error) {
	return listen(addr, true)
}

func listen(addr string, shared bool) (int, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return -1, "", fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.LookupIP(host)
		if lerr != nil || len(ips) == 0 {
			return -1, "", fmt.Errorf("address %q: %s is not an IP address", addr, host)
		}
		ip, _ = netip.AddrFromSlice(ips[0])
		ip = ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ip.String(), port))
	if err != nil {
		return -1, "", fmt.Errorf("address %q: %w", addr, err)
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", os.NewSyscallError("socket", err)
	}
	fail := func(what string, err error) (int, string, error) {
		unix.Close(fd)
		if errors.Is(err, unix.EADDRINUSE) {
			return -1, "", fmt.Errorf("listen on %s: %w (is another target running there?)", addr, err)
		}
		return -1, "", fmt.Errorf("listen on %s: %w", addr, os.NewSyscallError(what, err))
	}
	reusePort := func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) }
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if shared {
		if err := reusePort(); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if !shared {
		if err := reusePort(); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Listen(fd, Backlog); err != nil {
		return fail("listen", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	return fd, sockaddrString(bound), nil
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	}
	return fmt.Sprint(sa)
}
