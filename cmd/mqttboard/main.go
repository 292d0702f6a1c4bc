// Command mqttboard is a terminal MQTT 5 client and debugging tool with a
// bundled MQTT broker. All of its behaviour lives in package cli.
package main

import (
	"os"

	"github.com/mqttboard/mqttboard/cli"
)

func main() { os.Exit(cli.Main()) }
