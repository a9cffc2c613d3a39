package main

import (
	"fmt"
	"io"
	"os"

	"github.com/imzagate/imzagate/gateway"
)

// runConfig is `imzagate config check FILE`: every problem of a
// configuration at once, each with its key path, line and fix, checked
// against this process's environment and files as `serve` would see them.
func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: imzagate config check FILE")
		return 2
	}
	problems, err := checkConfigFile(args[1])
	if err != nil {
		fmt.Fprintln(stderr, "imzagate config check:", err)
		return 1
	}
	if len(problems) == 0 {
		fmt.Fprintf(stdout, "%s: no problems\n", args[1])
		return 0
	}
	printProblems(stdout, args[1], problems)
	return 1
}

// checkConfigFile reads and checks a configuration file.
func checkConfigFile(path string) ([]gateway.Problem, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return gateway.CheckConfig(data, os.LookupEnv), nil
}

// printProblems writes the problems of file, one block each.
func printProblems(w io.Writer, file string, problems []gateway.Problem) {
	noun := "problems"
	if len(problems) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(w, "%s: %d %s\n", file, len(problems), noun)
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\n", indent(p.String()))
	}
}

// indent indents the continuation lines of s under the first.
func indent(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\n' {
			out = append(out, ' ', ' ')
		}
	}
	return string(out)
}
