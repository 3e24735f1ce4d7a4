package relay

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// outcome is the kind of result of a heartbeat; the loop logs when it
// changes.
type outcome int

const (
	outcomeNone        outcome = iota // no heartbeat yet
	outcomeAccepted                   // 2xx with a valid answer
	outcomeUnreachable                // network error, 5xx, or a bad answer
	outcomeRejected                   // 401 or 403: the hive token
	outcomeRemoved                    // 410: the node was removed from the queen
	outcomeRefused                    // any other 4xx
	outcomeBusy                       // 503: the queen turned the beat away for now
)

// classify returns the outcome of a heartbeat that ended with err.
func classify(err error) outcome {
	_, isStatus := errors.AsType[*StatusError](err)
	switch {
	case err == nil:
		return outcomeAccepted
	case IsTokenRejected(err):
		return outcomeRejected
	case IsNodeRemoved(err):
		return outcomeRemoved
	case IsBusy(err):
		return outcomeBusy
	case isStatus:
		return outcomeRefused
	default:
		return outcomeUnreachable
	}
}

// report logs a heartbeat that ended with err when its outcome differs from
// last, so an outage, a rejected token or a removed node is logged once,
// not every beat, and returns the new outcome.
func (h *Relay) report(last outcome, err error, interval time.Duration) outcome {
	now := classify(err)
	if err != nil {
		h.log.Debug("heartbeat failed", "err", err)
	}
	if now == last {
		return now
	}
	switch now {
	case outcomeAccepted:
		h.logAccepted(last, interval)
	case outcomeUnreachable:
		h.log.Warn("queen unreachable; heartbeats continue until it answers", "err", err, "interval", interval)
	case outcomeRejected:
		h.log.Error(fmt.Sprintf("queen rejected the hive token; re-run `queen setup install --node %s` on the queen to write a new one; heartbeats continue", h.node), "err", err)
	case outcomeRemoved:
		se, _ := errors.AsType[*StatusError](err)
		h.log.Error(removedMessage(h.node, os.Getpid()), "err", err, "hint", se.Detail.Hint)
	case outcomeBusy:
		h.log.Warn("queen busy; heartbeats continue after the wait it asks for", "err", err)
	case outcomeRefused:
		se, _ := errors.AsType[*StatusError](err)
		h.log.Error("queen refused the heartbeat; heartbeats continue", "err", err, "code", se.Detail.Code, "hint", se.Detail.Hint)
	}
	return now
}

// removedMessage tells the operator of the agent with pid on node that the
// queen removed the node, what the agent does about it and the two ways
// out.
func removedMessage(node string, pid int) string {
	return fmt.Sprintf("node %s was removed from the queen; its workers keep running and heartbeats back off to one every %s at most; "+
		"stop this agent with `kill %d` on this node (it stops its workers too), "+
		"or add the node again (`queen setup add-node --name %s …`) and re-install it (`queen setup install --node %s`)",
		node, MaxRemovedBackoff, pid, node, node)
}

func (h *Relay) logAccepted(last outcome, interval time.Duration) {
	switch last {
	case outcomeNone:
		h.log.Info("first heartbeat accepted", "interval", interval)
	case outcomeUnreachable:
		h.log.Info("queen reachable again; heartbeats resumed", "interval", interval)
	case outcomeRejected:
		h.log.Info("queen accepted the hive token again", "interval", interval)
	case outcomeBusy:
		h.log.Info("queen no longer busy; heartbeats resumed", "interval", interval)
	case outcomeRemoved:
		h.log.Info(fmt.Sprintf("queen accepts node %s again; heartbeats back to the queen's interval", h.node), "interval", interval)
	default:
		h.log.Info("queen accepts heartbeats again", "interval", interval)
	}
}
