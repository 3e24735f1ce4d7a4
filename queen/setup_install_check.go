package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/rbee-fleet/rbee/shared/api"
)

// errChangesPending is returned by `queen setup install --check` when an
// install would change a node; the command exits exitChanges with the plan
// printed and no error line (like `terraform plan -detailed-exitcode`).
var errChangesPending = errors.New("an install would change something")

// checkOutcome prints a check's report and returns errChangesPending when
// any node would change, or the failure of nodes the check could not probe.
func checkOutcome(s *session, r api.InstallReport) error {
	if s.g.JSON {
		if err := writeJSON(s.stdout, r); err != nil {
			return err
		}
	} else {
		renderCheckReport(s.stdout, r)
	}
	if err := installFailed(r); err != nil {
		return err
	}
	for _, res := range r.Results {
		if res.Result == api.ResultWouldChange {
			return errChangesPending
		}
	}
	return nil
}

// renderCheckReport writes per node what an install would do and why.
func renderCheckReport(w io.Writer, r api.InstallReport) {
	counts := map[string]int{}
	for _, res := range r.Results {
		counts[res.Result]++
		switch res.Result {
		case api.ResultUpToDate:
			fmt.Fprintf(w, "%s: nothing to do (at %s)\n", clean(res.Node), orDash(api.ShortCommit(res.Commit)))
		case api.ResultWouldChange:
			fmt.Fprintf(w, "%s: %s\n", clean(res.Node), api.PlanSummary(res.Plan))
			for _, st := range res.Plan {
				fmt.Fprintf(w, "  %-8s %s\n", st.Step+":", clean(st.Why))
			}
		default:
			renderInstallFailure(w, res)
		}
	}
	fmt.Fprintf(w, "\n%d would change, %d up to date, %d failed\n",
		counts[api.ResultWouldChange], counts[api.ResultUpToDate], counts[api.ResultFailed])
}
