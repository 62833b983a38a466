"""A paho-mqtt client (Debian python3-paho-mqtt) sends one SUBSCRIBE with several filters.

Usage: acl_subscribe.py HOST PORT PROTOCOL(311|5) USERNAME PASSWORD CLIENT_ID FILTER...
Prints one JSON object: the CONNACK code and the SUBACK code of each filter, as paho reports them.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt

HOST, PORT, PROTO, USERNAME, PASSWORD, CLIENT_ID = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
FILTERS = sys.argv[7:]
VERSION = mqtt.MQTTv5 if PROTO == "5" else mqtt.MQTTv311
result = {"connack": None, "granted": None}

client = mqtt.Client(client_id=CLIENT_ID, protocol=VERSION, transport="websockets")
client.ws_set_options(path="/mqtt")
client.username_pw_set(USERNAME, PASSWORD)
connected = threading.Event()
subscribed = threading.Event()


def code(value):
    return int(value.value) if hasattr(value, "value") else int(value)


def on_connect(c, userdata, flags, rc, properties=None):
    result["connack"] = code(rc)
    connected.set()


def on_subscribe(c, userdata, mid, granted, properties=None):
    result["granted"] = [code(g) for g in granted]
    subscribed.set()


client.on_connect = on_connect
client.on_subscribe = on_subscribe
if VERSION == mqtt.MQTTv5:
    client.connect(HOST, PORT, keepalive=30, clean_start=True)
else:
    client.connect(HOST, PORT, keepalive=30)
client.loop_start()
if not connected.wait(10):
    raise SystemExit("timed out waiting for CONNACK")
if result["connack"] == 0:
    client.subscribe([(f, 1) for f in FILTERS])
    if not subscribed.wait(10):
        raise SystemExit("timed out waiting for SUBACK")
    client.disconnect()
client.loop_stop()
print(json.dumps(result))
