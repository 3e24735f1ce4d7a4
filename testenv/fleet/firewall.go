package fleet

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Nft is the nftables command Firewall runs inside a host's namespace.
const Nft = "nft"

// firewallRules is the ruleset Firewall loads: inbound traffic is dropped
// (not rejected, so connects time out as behind a real firewall) except on
// loopback, for connections the host itself opened, and on the allowed TCP
// ports. Outbound traffic is untouched.
const firewallRules = `table inet rbee_firewall {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport { %s } accept
	}
}
`

// Firewall makes h drop every inbound TCP connection except to
// allowPorts (at least one, e.g. 22), with nftables inside h's namespace;
// a second call replaces the first. The rules go with the namespace at
// Close.
func (f *Fleet) Firewall(h *Host, allowPorts ...int) error {
	if h.Netns == "" {
		return errors.New("Firewall needs a netns host (root)")
	}
	if len(allowPorts) == 0 {
		return errors.New("Firewall needs at least one allowed port (22 keeps SSH)")
	}
	if _, err := exec.LookPath(Nft); err != nil {
		return &MissingError{What: Nft, Fix: "install it with: apt-get install nftables (scripts/install-deps.sh)"}
	}
	ports := make([]string, len(allowPorts))
	for i, p := range allowPorts {
		ports[i] = strconv.Itoa(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = run(ctx, "ip", "netns", "exec", h.Netns, Nft, "delete", "table", "inet", "rbee_firewall")
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.Netns, Nft, "-f", "-")
	cmd.Stdin = strings.NewReader(fmt.Sprintf(firewallRules, strings.Join(ports, ", ")))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("load the firewall of %s: %v: %s", h.Name, err, out)
	}
	return nil
}

// Unroute takes away h's route to addr (an IPv4 address): from inside h's
// namespace addr is unreachable, while h still answers connections from
// other addresses, the bridge's included. Pair it with Network.QueenIP to
// model a queen the node cannot reach (a laptop behind NAT).
func (f *Fleet) Unroute(h *Host, addr string) error {
	if h.Netns == "" {
		return errors.New("Unroute needs a netns host (root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := run(ctx, "ip", "-n", h.Netns, "route", "add", "unreachable", addr+"/32")
	return err
}
