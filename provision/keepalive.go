package provision

import (
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// keepaliveRequest is the global request OpenSSH's ServerAliveInterval
// sends. Servers answer it, usually with a failure, which is fine: any reply
// proves the connection is alive.
const keepaliveRequest = "keepalive@openssh.com"

// keepalive sends a keepalive request every interval, one at a time. When
// maxMissed intervals in a row pass without a reply it calls dead, which
// closes the connection, and returns. It also returns when stop is closed or
// the connection fails on its own.
func keepalive(conn ssh.Conn, interval time.Duration, maxMissed int, stop <-chan struct{}, dead func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	replies := make(chan error, 1)
	pending, missed := false, 0
	for {
		select {
		case <-stop:
			return
		case err := <-replies:
			if err != nil {
				return
			}
			pending, missed = false, 0
		case <-ticker.C:
			if !pending {
				pending = true
				go func() {
					_, _, err := conn.SendRequest(keepaliveRequest, true, nil)
					replies <- err
				}()
				continue
			}
			if missed++; missed >= maxMissed {
				dead(fmt.Errorf("no reply to keepalive for %s", time.Duration(missed)*interval))
				return
			}
		}
	}
}
