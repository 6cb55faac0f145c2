package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags is a subcommand's flag set: errors are returned, not printed,
// and its help is made from the flags themselves by printHelp.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// printHelp writes a subcommand's help: its synopsis and description, then
// every flag with the value name and text its definition gives.
func printHelp(w io.Writer, fs *flag.FlagSet, synopsis, about string) {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n%s", synopsis, strings.TrimLeft(about, "\n"))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nFlags:\n")
	}
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  %s\n      %s", strings.TrimSpace("--"+f.Name+" "+name), usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	io.WriteString(w, b.String())
}

// isHelp says whether a parse stopped at -h or --help.
func isHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }
