// Command lab runs every target model under the same Locust load and
// compares the results.
//
//	lab run [flags]        measure every model, write CSVs and the report
//	lab compare DIR...     compare Locust CSV exports, optionally to a baseline
//	lab report DIR         write a run folder's report again
//	lab up [flags]         every target, the web UI and Go workers, until Ctrl-C
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand. Each entry point is NAMEMain(args, stdout,
// stderr) and returns the exit status.
type command struct {
	name, summary string
	main          func(args []string, stdout, stderr io.Writer) int
}

// commands are the subcommands, in the order help lists them.
var commands []command

func init() {
	commands = []command{
		{"run", "run headless Locust against every target model and write the report", runMain},
		{"compare", "compare Locust CSV exports (lab run folders or locust --csv prefixes)", compareMain},
		{"report", "write a lab run folder's report again from its CSVs and meta.json", reportMain},
		{"up", "start every target, a Locust master with its web UI and Go workers; Ctrl-C stops them", upMain},
		{"help", "show this help", helpMain},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		io.WriteString(stderr, usage())
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help":
		return helpMain(nil, stdout, stderr)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.main(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "lab: unknown command %q (lab help)\n", args[0])
	return 2
}

func helpMain(args []string, stdout, stderr io.Writer) int {
	io.WriteString(stdout, usage())
	return 0
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: lab COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString("\nlab COMMAND --help shows a command's flags.\n")
	return b.String()
}
