"""One paho-mqtt publisher (Debian python3-paho-mqtt, MQTT 3.1.1) flooding at QoS 1.

Usage: flood_publisher.py HOST PORT TOPIC ID COUNT INFLIGHT
Publishes COUNT messages "<ID>:<seq>" with at most INFLIGHT unacknowledged
(paho sends one WebSocket frame per packet), then prints one JSON object:
the sequence numbers the broker acknowledged, and whether the connection
stayed up.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt

HOST, PORT, TOPIC, ID = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
COUNT, INFLIGHT = int(sys.argv[5]), int(sys.argv[6])

# paho numbers packets 1, 2, 3... on a fresh client, and this one publishes only: mid = seq + 1.
assert COUNT < 65535
acked = []
lock = threading.Lock()
done = threading.Event()
connected = threading.Event()
disconnected = {"rc": None}

c = mqtt.Client(client_id=f"paho-flood-{ID}", protocol=mqtt.MQTTv311, transport="websockets")
c.ws_set_options(path="/mqtt")
c.max_inflight_messages_set(INFLIGHT)


def on_connect(client, userdata, flags, rc):
    connected.set()


def on_publish(client, userdata, mid):
    with lock:
        acked.append(mid - 1)
        if len(acked) >= COUNT:
            done.set()


def on_disconnect(client, userdata, rc):
    disconnected["rc"] = rc
    done.set()


c.on_connect = on_connect
c.on_publish = on_publish
c.on_disconnect = on_disconnect
c.connect(HOST, PORT, keepalive=60)
c.loop_start()
if not connected.wait(60):
    raise SystemExit("timed out waiting for CONNACK")
for seq in range(COUNT):
    info = c.publish(TOPIC, f"{ID}:{seq}", qos=1)
    if info.mid != seq + 1:
        raise SystemExit(f"unexpected packet identifier {info.mid} for message {seq}")
done.wait(600)
still_up = disconnected["rc"] is None
c.disconnect()
c.loop_stop()
print(json.dumps({"acked": acked, "connected": still_up}))
