// Command redisdev runs the development Redis of scripts/redis-dev.sh: the
// standalone server and the 3-master Redis Cluster the tests would start
// (see internal/redistest), until it receives SIGTERM or SIGINT.
//
//	redisdev -dir DIR
//
// Once everything answers, it writes DIR/env, the export lines of
// ALIPAYNOTIFY_REDIS_ADDR, ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS and
// REDIS_SERVER_BIN. On a signal it stops the servers, removes DIR/env and
// exits. The servers keep their data and logs in DIR; they die with
// redisdev (on Linux).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/alipaynotify/alipaynotify/internal/redistest"
)

func main() {
	dir := flag.String("dir", "", "directory for the servers' data, logs and the env file (required)")
	flag.Parse()
	if *dir == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetPrefix("redisdev: ")
	if err := run(*dir); err != nil {
		log.Fatal(err)
	}
}

func run(dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	bin, err := redistest.Bin("")
	if err != nil {
		return err
	}
	standaloneDir := filepath.Join(dir, "standalone")
	if err := os.MkdirAll(standaloneDir, 0o755); err != nil {
		return err
	}
	standalone, err := redistest.Launch(ctx, redistest.Options{Bin: bin, Dir: standaloneDir})
	if err != nil {
		return err
	}
	defer standalone.Close()
	cluster, err := redistest.LaunchCluster(ctx, redistest.Options{Bin: bin, Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		return err
	}
	defer cluster.Close()

	env := fmt.Sprintf("export %s=%s\nexport %s=%s\nexport %s=%s\n",
		redistest.EnvAddr, standalone.Addr(),
		redistest.EnvClusterAddrs, strings.Join(cluster.Addrs(), ","),
		redistest.EnvServerBin, bin)
	envFile := filepath.Join(dir, "env")
	if err := os.WriteFile(envFile+".tmp", []byte(env), 0o644); err != nil {
		return err
	}
	if err := os.Rename(envFile+".tmp", envFile); err != nil {
		return err
	}
	defer os.Remove(envFile)
	log.Printf("up: standalone %s, cluster %s", standalone.Addr(), strings.Join(cluster.Addrs(), ","))
	<-ctx.Done()
	log.Print("stopping")
	return nil
}
