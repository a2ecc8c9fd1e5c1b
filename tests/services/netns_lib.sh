# Two "hosts" on one machine: network + UTS namespaces named node1 and node2 (their
# hostnames), each with a veth pair whose other end is on a bridge in the root namespace.
# Source after lib.sh. Sets:
#   node_pid[i]   a process holding node i's namespaces (nsenter -t PID -n -u ...)
#   node_addr[i]  node i's address (192.0.2.0/24, the documentation range, only inside
#                 node i's namespace)
#   head_addr     the root namespace's own address, which the nodes reach over the bridge
#   net_bridge, net_veth[i]  the root-side interfaces (names carry a random suffix)
# The root namespace gets no new address: one /32 route per node on the bridge, taking
# its source from an address it already has. The nodes' namespaces live as long as their
# holder processes (no /run/netns mount); netns_down kills every process left in them by
# pid and deletes the bridge, the veths and the routes. Both are safe to call twice.
#
# netns_up         returns 77 (message printed) when namespaces or veths cannot be made
# netns_down
# on_node I CMD... runs CMD in node I's network and UTS namespaces (same mount namespace)
node_pid=() node_addr=() net_veth=() net_bridge="" head_addr=""

# A free pair of node addresses: not this machine's, not in its routing table or its
# neighbour cache (the root namespace may itself live in 192.0.2.0/24).
netns_pick_addrs() {
  local used base try
  used=$(ip -4 -o addr show; ip -4 route show table all; ip -4 neigh show)
  for try in $(seq 50); do
    base=$(( 100 + RANDOM % 150 ))
    if ! grep -qw -e "192\.0\.2\.$base" -e "192\.0\.2\.$((base + 1))" <<<"$used"; then
      node_addr[1]="192.0.2.$base"; node_addr[2]="192.0.2.$((base + 1))"; return 0
    fi
  done
  return 1
}

netns_up() {
  local sfx i p
  command -v nsenter >/dev/null && command -v unshare >/dev/null && command -v ip >/dev/null \
    || { echo "SKIP: ip, unshare and nsenter are needed for the namespaced nodes"; return 77; }
  sfx=$(printf '%04x' $(( RANDOM % 65536 )))
  net_bridge="lsbr$sfx"
  ip link add "$net_bridge" type bridge 2>/dev/null \
    || { net_bridge=""; echo "SKIP: cannot create a bridge here (ip link add type bridge: need root and CAP_NET_ADMIN)"; return 77; }
  ip link set "$net_bridge" up
  netns_pick_addrs || { bad "no free pair of addresses in 192.0.2.0/24"; return 1; }
  for i in 1 2; do
    # unshare execs: the pid is the holder's; hostname runs inside the new UTS namespace.
    setsid unshare -n -u sh -c "hostname node$i && ip link set lo up && exec sleep 100000" </dev/null >/dev/null 2>&1 &
    p=$!; node_pid[i]=$p
    disown "$p"   # killed by netns_down: no job-control notice
    for _ in $(seq 50); do [ "$(nsenter -t "$p" -u hostname 2>/dev/null)" = "node$i" ] && break; sleep 0.1; done
    [ "$(nsenter -t "$p" -u hostname 2>/dev/null)" = "node$i" ] \
      || { echo "SKIP: cannot make network/UTS namespaces (unshare -n -u)"; return 77; }
    net_veth[i]="lsv$i$sfx"
    ip link add "${net_veth[i]}" type veth peer name eth0 netns "$p" 2>/dev/null \
      || { echo "SKIP: cannot create a veth pair into a namespace"; return 77; }
    ip link set "${net_veth[i]}" master "$net_bridge" up
    on_node "$i" ip addr add "${node_addr[i]}/24" dev eth0 && on_node "$i" ip link set eth0 up \
      || { bad "addressing node$i"; return 1; }
    ip route add "${node_addr[i]}/32" dev "$net_bridge" || { bad "route to node$i"; return 1; }
  done
  head_addr=$(ip -4 route get "${node_addr[1]}" | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  [ -n "$head_addr" ] || { echo "SKIP: the root namespace has no IPv4 address to reach the nodes from"; return 77; }
  # The nodes reach the head over the bridge (the root namespace answers ARP for it there).
  for i in 1 2; do on_node "$i" ip route replace "$head_addr/32" dev eth0 src "${node_addr[i]}"; done
  return 0
}

on_node() { local i="$1"; shift; nsenter -t "${node_pid[i]}" -n -u "$@"; }

# netns_pids I: every process in node I's network namespace (the holder included); all
# were started by this test, inside namespaces it made.
netns_pids() {
  local h="${node_pid[$1]:-}" d
  [ -n "$h" ] && [ -e "/proc/$h/ns/net" ] || return 0
  for d in /proc/[0-9]*; do
    [ "$d/ns/net" -ef "/proc/$h/ns/net" ] && echo "${d#/proc/}"
  done
}

netns_down() {
  local i left
  # Whatever still runs in a node (a job step Slurm did not end, the holder) is killed by
  # pid; the namespaces go with their last process.
  for i in 2 1; do
    left=$(netns_pids "$i")
    [ -n "$left" ] && kill -KILL $left 2>/dev/null
    for _ in $(seq 50); do [ -z "$(netns_pids "$i")" ] && break; sleep 0.1; done
    # The veth pair goes with the namespace; delete the root end in case it outlived it.
    [ -n "${net_veth[i]:-}" ] && ip link del "${net_veth[i]}" 2>/dev/null
  done
  [ -n "$net_bridge" ] && ip link del "$net_bridge" 2>/dev/null   # its routes go with it
  node_pid=() net_veth=() net_bridge=""
}
