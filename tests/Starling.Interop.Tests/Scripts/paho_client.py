#!/usr/bin/python3
"""A small paho-mqtt client driven by the interop tests.

Works with paho-mqtt 1.x (Debian 12 ships 1.6.1) and 2.x. Every event is printed as one line on stdout, flushed at
once, so that the test can await it:

  CONNECTED <rc> <session_present>      CONNACK received (rc 0 = accepted)
  CONNECT_FAILED <rc>                   CONNACK refused the connection (the script then exits with status 3)
  SUBSCRIBED <granted qos ...>          SUBACK received for all topics
  MSG|<retain>|<qos>|<topic>|<payload>  one received PUBLISH
  PUBLISHED <n>                         the n-th message completed its QoS flow
  DISCONNECTED                          a clean DISCONNECT was sent
  ERROR <text>                          anything else that went wrong (exit status 2)

Commands:
  sub   subscribe to --topic (repeatable) at --qos, exit after --count messages (0 = until stdin closes).
  pub   publish each --message to --topic at --qos (--retain), wait for every flow to complete, disconnect.
  will  connect with a will (--will-topic, --will-message, --will-qos, --will-retain) and wait for commands on
        stdin: "disconnect" sends a clean DISCONNECT and exits; end of stdin exits WITHOUT a DISCONNECT.
"""

import argparse
import os
import sys
import threading

import paho.mqtt.client as mqtt

PROTOCOLS = {"31": mqtt.MQTTv31, "311": mqtt.MQTTv311, "5": mqtt.MQTTv5}


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def code(value):
    """An int out of a paho 1.x int, a 2.x ReasonCode, or a list/tuple of either."""
    if hasattr(value, "value"):
        return int(value.value)
    return int(value)


def make_client(args):
    protocol = PROTOCOLS[args.version]
    kwargs = {"client_id": args.id, "protocol": protocol}
    if protocol != mqtt.MQTTv5:
        kwargs["clean_session"] = args.clean == "1"
    if hasattr(mqtt, "CallbackAPIVersion"):
        # paho-mqtt 2.x: ask for the version 2 callbacks; the handlers below accept both signatures.
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    return mqtt.Client(**kwargs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["sub", "pub", "will"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=sorted(PROTOCOLS), default="311")
    parser.add_argument("--id", default="")
    parser.add_argument("--clean", choices=["0", "1"], default="1")
    parser.add_argument("--keepalive", type=int, default=60)
    parser.add_argument("--topic", action="append", default=[])
    parser.add_argument("--qos", type=int, default=0)
    parser.add_argument("--retain", action="store_true")
    parser.add_argument("--message", action="append", default=[])
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--will-topic")
    parser.add_argument("--will-message", default="")
    parser.add_argument("--will-qos", type=int, default=0)
    parser.add_argument("--will-retain", action="store_true")
    args = parser.parse_args()

    client = make_client(args)
    connected = threading.Event()
    done = threading.Event()
    state = {"received": 0, "published": 0, "connect_rc": None}

    def on_connect(_client, _userdata, flags, rc, *_rest):
        state["connect_rc"] = code(rc)
        present = flags.get("session present", 0) if isinstance(flags, dict) else int(getattr(flags, "session_present", 0))
        if state["connect_rc"] == 0:
            out("CONNECTED 0 %d" % int(present))
        else:
            out("CONNECT_FAILED %d" % state["connect_rc"])
        connected.set()

    def on_subscribe(_client, _userdata, _mid, granted, *_rest):
        out("SUBSCRIBED " + " ".join(str(code(g)) for g in granted))

    def on_message(_client, _userdata, msg):
        payload = msg.payload.decode("utf-8", "replace")
        out("MSG|%d|%d|%s|%s" % (int(msg.retain), msg.qos, msg.topic, payload))
        state["received"] += 1
        if args.count and state["received"] >= args.count:
            done.set()

    def on_publish(_client, _userdata, _mid, *_rest):
        state["published"] += 1
        out("PUBLISHED %d" % state["published"])
        if state["published"] >= len(args.message):
            done.set()

    disconnected = threading.Event()

    def on_disconnect(_client, _userdata, *_rest):
        disconnected.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_publish = on_publish

    if args.command == "will":
        if not args.will_topic:
            out("ERROR --will-topic is required")
            return 2
        client.will_set(args.will_topic, args.will_message, args.will_qos, args.will_retain)

    connect_kwargs = {}
    if PROTOCOLS[args.version] == mqtt.MQTTv5:
        # MQTT 5: clean start as asked; a persistent session needs a session expiry interval to outlive the connection.
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        connect_kwargs["clean_start"] = args.clean == "1"
        if args.clean == "0":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
            connect_kwargs["properties"] = properties

    try:
        client.connect(args.host, args.port, args.keepalive, **connect_kwargs)
    except OSError as e:
        out("ERROR connect: %s" % e)
        return 2
    client.loop_start()
    if not connected.wait(30):
        out("ERROR no CONNACK within 30 s")
        os._exit(2)
    if state["connect_rc"] != 0:
        os._exit(3)

    if args.command == "sub":
        if not args.topic:
            out("ERROR --topic is required")
            os._exit(2)
        client.subscribe([(t, args.qos) for t in args.topic])
        if args.count:
            done.wait()
        else:
            for _ in sys.stdin:
                pass
    elif args.command == "pub":
        for m in args.message:
            client.publish(args.topic[0], m, args.qos, args.retain)
        if args.message:
            done.wait()
    else:  # will
        for line in sys.stdin:
            if line.strip() == "disconnect":
                break
        else:
            # stdin closed without a command: vanish without a DISCONNECT, as a crashed client would.
            os._exit(0)

    client.disconnect()
    disconnected.wait(10)
    client.loop_stop()
    out("DISCONNECTED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
