// Command raftlite runs raftlite clusters from the command line.
//
//	raftlite demo    three nodes in one process: broadcasts, a leader failure, agreement
//	raftlite node    one node as its own process (--id --listen --peers --data --transport)
//	raftlite bench   the benchmark matrix of package bench, benchstat-compatible
//
// Run "raftlite help" for every subcommand.
package main

import (
	"fmt"
	"io"
	"os"
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "three nodes in one process: broadcasts, a leader failure, agreement", runDemo},
		{"node", "one node as its own process: stdin lines are broadcast, deliveries go to stdout", runNode},
		{"bench", "commit latency and throughput for every transport and persister, as a table", runBench},
	}
}

func main() {
	if err := dispatch(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "raftlite:", err)
		os.Exit(1)
	}
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: raftlite <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}
