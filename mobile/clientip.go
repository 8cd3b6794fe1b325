package mobile

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// trustedProxies are the load balancers allowed to tell us the client's
// address in X-Forwarded-For.
type trustedProxies []netip.Prefix

// parseTrustedProxies accepts addresses and CIDRs.
func parseTrustedProxies(specs []string) (trustedProxies, error) {
	var out trustedProxies
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (t trustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address the sign-in rate limit counts against. Behind
// trusted proxies it is the right-most X-Forwarded-For entry that is not a
// trusted proxy: entries to its left were written by the client and can
// be anything, so taking the left-most one would let a client pick a fresh
// address for every attempt.
func (s *server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if len(s.proxies) == 0 || !s.proxies.trusts(peer) {
		return peer.String()
	}
	var hops []string
	c.Request().Header.VisitAll(func(k, v []byte) {
		if strings.EqualFold(string(k), fiber.HeaderXForwardedFor) {
			hops = append(hops, strings.Split(string(v), ",")...)
		}
	})
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// Garbage in a hop a trusted proxy vouched for: stop at the
			// last address we can name rather than trust what is left of it.
			break
		}
		if !s.proxies.trusts(a) {
			return a.Unmap().String()
		}
		peer = a.Unmap()
	}
	return peer.String()
}
