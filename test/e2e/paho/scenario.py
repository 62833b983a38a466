"""Real paho-mqtt clients (Debian python3-paho-mqtt) against EdgeMQ over ws://.

Usage: scenario.py HOST PORT PROTOCOL(311|5)
Prints one JSON object describing what crossed the wire; the vitest suite asserts on it.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

HOST, PORT, PROTO = sys.argv[1], int(sys.argv[2]), sys.argv[3]
VERSION = mqtt.MQTTv5 if PROTO == "5" else mqtt.MQTTv311
TAG = f"paho/{PROTO}"
result = {"connack": {}, "granted": None, "messages": [], "will": None, "puback": {}}


def make(client_id, **kwargs):
    c = mqtt.Client(client_id=client_id, protocol=VERSION, transport="websockets", **kwargs)
    c.ws_set_options(path="/mqtt")
    return c


def wait(event, what, timeout=10):
    if not event.wait(timeout):
        raise SystemExit(f"timed out waiting for {what}")


def connect(c, name, **kwargs):
    done = threading.Event()

    def on_connect(client, userdata, flags, rc, properties=None):
        result["connack"][name] = {"rc": int(rc.value if hasattr(rc, "value") else rc), "session_present": int(flags.get("session present", 0))}
        done.set()

    c.on_connect = on_connect
    if VERSION == mqtt.MQTTv5:
        c.connect(HOST, PORT, keepalive=30, clean_start=True, **kwargs)
    else:
        c.connect(HOST, PORT, keepalive=30, **kwargs)
    c.loop_start()
    wait(done, f"CONNACK for {name}")


sub = make(f"{TAG}-sub".replace("/", "-"))
got_all = threading.Event()
expected = 4


def on_message(client, userdata, msg):
    result["messages"].append({"topic": msg.topic, "payload": msg.payload.decode(), "qos": msg.qos, "retain": bool(msg.retain)})
    if len([m for m in result["messages"] if m["topic"].startswith(TAG + "/data")]) >= expected:
        got_all.set()


subscribed = threading.Event()


def on_subscribe(client, userdata, mid, granted, properties=None):
    result["granted"] = [int(g.value) if hasattr(g, "value") else int(g) for g in granted]
    subscribed.set()


sub.on_message = on_message
sub.on_subscribe = on_subscribe
connect(sub, "sub")

pub = make(f"{TAG}-pub".replace("/", "-"))
acked = {}


def on_publish(client, userdata, mid):
    acked[mid] = True


pub.on_publish = on_publish
connect(pub, "pub")

# A retained message published before the subscription arrives with RETAIN set.
info = pub.publish(TAG + "/data/retained", "kept", qos=1, retain=True)
info.wait_for_publish(10)

sub.subscribe([(TAG + "/data/#", 2), (TAG + "/will", 1)])
wait(subscribed, "SUBACK")

for qos in (0, 1, 2):
    info = pub.publish(TAG + f"/data/q{qos}", f"payload-{qos}", qos=qos)
    info.wait_for_publish(10)
    result["puback"][str(qos)] = info.is_published()

wait(got_all, "four deliveries")

# A client with a will that vanishes without DISCONNECT.
will_seen = threading.Event()
orig = sub.on_message


def on_message_will(client, userdata, msg):
    if msg.topic == TAG + "/will":
        result["will"] = msg.payload.decode()
        will_seen.set()
    else:
        orig(client, userdata, msg)


sub.on_message = on_message_will
dying = make(f"{TAG}-dying".replace("/", "-"))
dying.will_set(TAG + "/will", "paho went away", qos=1)
connect(dying, "dying")
dying.loop_stop()
dying.socket().close()  # network loss: no DISCONNECT
wait(will_seen, "will message")

for c in (sub, pub):
    c.disconnect()
    c.loop_stop()
result["messages"].sort(key=lambda m: m["topic"])
print(json.dumps(result))
