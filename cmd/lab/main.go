// Command lab runs every target model under the same Locust load and
// compares the results.
//
//	lab run [flags]        measure every model, write CSVs and the report
//	lab compare DIR...     compare Locust CSV exports, optionally to a baseline
//	lab report DIR         write a run folder's report again
package main

import (
	"fmt"
	"io"
	"os"
)

const labUsage = `usage: lab COMMAND [flags]

Commands:
  run       run headless Locust against every target model and write the report
  compare   compare Locust CSV exports (lab run folders or locust --csv prefixes)
  report    write a lab run folder's report again from its CSVs and meta.json
  help      show this help

lab COMMAND --help shows a command's flags.
`

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, labUsage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:])
	case "compare":
		return compareMain(args[1:], stdout, stderr)
	case "report":
		return reportMain(args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, labUsage)
		return 0
	}
	fmt.Fprintf(stderr, "lab: unknown command %q (lab help)\n", args[0])
	return 2
}
