package main

import (
	"context"
	"fmt"

	"github.com/alecthomas/kong"
)

// hiveCmd groups the commands that start, stop and check the hive agent of
// a registered node. Like the setup commands, they are clients of a running
// queen (`queen serve`).
type hiveCmd struct {
	Start  hiveStartCmd  `cmd:"" help:"Start the hive agent of a node over SSH."`
	Stop   hiveStopCmd   `cmd:"" help:"Stop the hive agent of a node over SSH."`
	Status hiveStatusCmd `cmd:"" help:"Show a node's agent: health, last heartbeat, installed commit, last install; exit 1 unless healthy."`
}

// ProvideSession gives the hive commands' Run methods the same *session as
// the setup commands get.
func (*hiveCmd) ProvideSession(g *Globals, kctx *kong.Context) *session {
	return (*setupCmd).ProvideSession(nil, g, kctx)
}

// cancelled turns the error of an operation cut short by the user (Ctrl-C
// cancels ctx) into "<what> cancelled" with hint, and says so on stdout in
// human mode; other errors, and errors of a ctx still live, pass unchanged.
func cancelled(ctx context.Context, s *session, what, hint string, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if !s.g.JSON {
		s.say("%s cancelled", what)
	}
	return &hintError{msg: what + " cancelled", err: fmt.Errorf("%s: %w", what, err), hint: hint}
}
