// Command target serves the lab's site with one concurrency model, chosen
// with --model; --list prints them all.
package main

import (
	"os"

	"serverlab/targets/server"
)

func main() {
	os.Exit(server.Main(models, os.Args[1:], os.Stdout, os.Stderr))
}
