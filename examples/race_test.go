//go:build race

package examples_test

// raceEnabled builds the examples with -race when the tests run with -race:
// the servers are checked for data races too (a race makes them exit 66, which
// the shutdown check catches), and the build shares its compiled packages with
// the other race tests.
const raceEnabled = true
