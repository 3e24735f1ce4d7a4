package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/alecthomas/kong"

	"github.com/rbee-fleet/rbee/shared/api"
)

// keysCmd groups the commands that manage the gateway's client keys.
type keysCmd struct {
	Create keysCreateCmd `cmd:"" help:"Create a client key for the gateway and print it (once)."`
	List   keysListCmd   `cmd:"" help:"List the client keys (names, never the keys)."`
	Revoke keysRevokeCmd `cmd:"" help:"Revoke a client key; it is refused from then on."`
}

// ProvideSession gives the keys commands the same *session as the setup
// commands get.
func (*keysCmd) ProvideSession(g *Globals, kctx *kong.Context) *session {
	return (*setupCmd).ProvideSession(nil, g, kctx)
}

// keysCreateCmd is `queen keys create`.
type keysCreateCmd struct {
	Name string `required:"" placeholder:"NAME" help:"Name of the key, e.g. the client that uses it."`
}

// Run creates the key and prints it: the queen keeps only its hash.
func (c *keysCreateCmd) Run(ctx context.Context, s *session) error {
	if err := api.ValidateKeyName(c.Name); err != nil {
		return withHint(fmt.Errorf("check --name: %w", err), "pick a name of letters, digits, '.', '_' or '-'")
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	var k api.ClientKey
	if err := q.Do(ctx, http.MethodPost, "/v1/keys", api.CreateKeyRequest{Name: c.Name}, &k); err != nil {
		return s.explain(err)
	}
	if s.g.JSON {
		return writeJSON(s.stdout, k)
	}
	// The key alone on stdout, so `key=$(queen keys create …)` works; the
	// note goes to stderr.
	fmt.Fprintln(s.stdout, k.Key)
	fmt.Fprintf(s.stderr, "[queen] created client key %q; it is shown only now: clients send it as Authorization: Bearer <key>\n", k.Name)
	return nil
}

// keysListCmd is `queen keys list`.
type keysListCmd struct{}

// Run lists the keys.
func (c *keysListCmd) Run(ctx context.Context, s *session) error {
	q, err := s.connect()
	if err != nil {
		return err
	}
	var l api.KeyList
	if err := q.Do(ctx, http.MethodGet, "/v1/keys", nil, &l); err != nil {
		return s.explain(err)
	}
	if s.g.JSON {
		return writeJSON(s.stdout, l)
	}
	for _, k := range l.Keys {
		state := "in force"
		if k.RevokedUnix != 0 {
			state = "revoked " + time.Unix(k.RevokedUnix, 0).UTC().Format(time.DateTime)
		}
		fmt.Fprintf(s.stdout, "%-24s %-8s created %s  %s\n", k.Name, k.Scope,
			time.Unix(k.CreatedUnix, 0).UTC().Format(time.DateTime), state)
	}
	return nil
}

// keysRevokeCmd is `queen keys revoke`.
type keysRevokeCmd struct {
	Name string `required:"" placeholder:"NAME" help:"Name of the key to revoke."`
}

// Run revokes the key.
func (c *keysRevokeCmd) Run(ctx context.Context, s *session) error {
	if err := api.ValidateKeyName(c.Name); err != nil {
		return withHint(fmt.Errorf("check --name: %w", err), "list the keys with `queen keys list`")
	}
	q, err := s.connect()
	if err != nil {
		return err
	}
	if err := q.Do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(c.Name), nil, nil); err != nil {
		return s.explain(err)
	}
	s.say("revoked client key %q", c.Name)
	return nil
}
