package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// statusCmd is `queen status`.
type statusCmd struct {
	Timeout time.Duration `default:"3s" help:"How long to wait for each queen's answer."`
}

// queenStatus is one queen's line of `queen status`.
type queenStatus struct {
	URL        string `json:"url"`
	Role       string `json:"role,omitempty"`
	Epoch      int64  `json:"epoch,omitempty"`
	LeaseAgeMS int64  `json:"lease_age_ms,omitempty"`
	ActiveURL  string `json:"active_url,omitempty"`
	Version    string `json:"version,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Run asks every queen of --queen-url, and every active queen they name,
// for its health and prints role, epoch and lease age; it fails when no
// queen answers as active.
func (c *statusCmd) Run(ctx context.Context, g *Globals) error {
	list := c.collect(ctx, client.URLs(g.QueenURL))
	if g.JSON {
		if err := writeJSON(os.Stdout, list); err != nil {
			return err
		}
	} else {
		renderQueenStatus(os.Stdout, list)
	}
	for _, q := range list {
		if q.Role == api.RoleActive {
			return nil
		}
	}
	return withHint(errors.New("no queen answered as active"),
		"a standby takes over within the lease time (--lease-ttl); check the queens' logs and their PostgreSQL")
}

// collect asks each URL in turn, adding the active URLs the answers name.
func (c *statusCmd) collect(ctx context.Context, urls []string) []queenStatus {
	var list []queenStatus
	seen := map[string]bool{}
	for i := 0; i < len(urls); i++ {
		if seen[urls[i]] {
			continue
		}
		seen[urls[i]] = true
		st := c.ask(ctx, urls[i])
		if st.ActiveURL != "" && !seen[st.ActiveURL] {
			urls = append(urls, st.ActiveURL)
		}
		list = append(list, st)
	}
	return list
}

// ask reads one queen's health.
func (c *statusCmd) ask(ctx context.Context, url string) queenStatus {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	h, err := client.New(url, "").Health(ctx)
	if err != nil {
		return queenStatus{URL: url, Error: err.Error()}
	}
	return queenStatus{URL: url, Role: h.Role, Epoch: h.Epoch, LeaseAgeMS: h.LeaseAgeMS, ActiveURL: h.ActiveURL, Version: h.Version}
}

// renderQueenStatus prints one line per queen.
func renderQueenStatus(w io.Writer, list []queenStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEEN\tROLE\tEPOCH\tLEASE AGE\tACTIVE QUEEN")
	for _, q := range list {
		if q.Error != "" {
			fmt.Fprintf(tw, "%s\tunreachable\t-\t-\t%s\n", q.URL, q.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", q.URL, q.Role, q.Epoch,
			(time.Duration(q.LeaseAgeMS) * time.Millisecond).String(), q.ActiveURL)
	}
	tw.Flush()
}

// activeQueenURL picks, of --queen-url's list, the queen that answers as
// active (or the active queen a standby names); the first URL when none
// does or the list has one URL. For commands that talk HTTP themselves.
func activeQueenURL(ctx context.Context, list string) string {
	urls := client.URLs(list)
	if len(urls) == 1 {
		return urls[0]
	}
	for _, q := range (&statusCmd{Timeout: 2 * time.Second}).collect(ctx, urls) {
		if q.Role == api.RoleActive {
			return q.URL
		}
	}
	return urls[0]
}
