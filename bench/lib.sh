# What the bench scripts share; they source it (. bench/lib.sh) after
# cd-ing to the repository's root. Each script keeps its own list of
# brokers and how it starts them; these are the parts that were copied.

# mosquitto_conf FILE PORT [LINE ...]: a mosquitto configuration that
# listens on 127.0.0.1:PORT for anonymous clients, with the LINEs after.
# As root it adds "user root": mosquitto otherwise switches to the user
# mosquitto, which may not read a temporary directory's files.
mosquitto_conf() {
  local file=$1 port=$2
  shift 2
  {
    printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port"
    if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
    if [ "$(id -u)" = 0 ]; then echo "user root"; fi
  } >"$file"
}

# port_free PORT: exits the script when something already listens on
# 127.0.0.1:PORT (a leftover broker would be measured instead).
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "127.0.0.1:$1 is in use by another process: set PORT to another" >&2
    exit 1
  fi
}

# wait_listen PORT NAME: waits (5 s at most) until something listens on
# 127.0.0.1:PORT, else exits the script saying NAME did not start.
wait_listen() {
  local i
  for i in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$2 did not start (nothing listens on 127.0.0.1:$1)" >&2
  exit 1
}
