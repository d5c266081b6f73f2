#!/usr/bin/python3
"""An MQTT 5 paho-mqtt client for the V5 interop tests (paho-mqtt 1.6 and 2.x).

Every event is one flushed stdout line:

  CONNECTED <rc> <session_present> <assigned id or ->   CONNACK accepted
  CONNECT_FAILED <rc>                                  CONNACK refused (exit 3)
  SUBSCRIBED <reason codes ...>                        SUBACK
  MSG5 <json>                                          one PUBLISH: topic, payload, qos, retain, properties
  PUBLISHED <n>                                        the n-th publish completed its QoS flow
  RESPONDED <n>                                        (respond) the n-th reply was sent
  DISCONNECTED                                         clean DISCONNECT sent
  ERROR <text>                                         anything else (exit 2)

Commands:
  sub      subscribe to --topic (repeatable) with --qos, --no-local, --sub-id; exit after --count messages
           (0 = until stdin closes).
  pub      publish each --message to --topic with the PUBLISH properties given; --alias N sends the first message
           with the topic and alias N, the following ones with an empty topic and the alias only.
  respond  subscribe to --topic; answer each request on its Response Topic with the same Correlation Data and the
           payload "re:<request>"; exit after --count requests.
  will     connect with a will (--will-topic, --will-message, --will-delay) and wait for stdin: "disconnect" sends a
           normal DISCONNECT; end of stdin exits WITHOUT a DISCONNECT.
  hold     connect (with --session-expiry and --clean), print CONNECTED, and wait for stdin like "will".
"""

import argparse
import binascii
import json
import os
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def code(value):
    if hasattr(value, "value"):
        return int(value.value)
    return int(value)


def make_client(client_id):
    kwargs = {"client_id": client_id, "protocol": mqtt.MQTTv5}
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    return mqtt.Client(**kwargs)


def describe(msg):
    props = getattr(msg, "properties", None)
    result = {
        "topic": msg.topic,
        "payload": msg.payload.decode("utf-8", "replace"),
        "qos": msg.qos,
        "retain": int(msg.retain),
    }
    if props is not None:
        if hasattr(props, "UserProperty"):
            result["user"] = [[k, v] for (k, v) in props.UserProperty]
        if hasattr(props, "ResponseTopic"):
            result["response_topic"] = props.ResponseTopic
        if hasattr(props, "CorrelationData"):
            result["correlation"] = binascii.hexlify(props.CorrelationData).decode()
        if hasattr(props, "ContentType"):
            result["content_type"] = props.ContentType
        if hasattr(props, "PayloadFormatIndicator"):
            result["payload_format"] = props.PayloadFormatIndicator
        if hasattr(props, "MessageExpiryInterval"):
            result["expiry"] = props.MessageExpiryInterval
        if hasattr(props, "SubscriptionIdentifier"):
            ids = props.SubscriptionIdentifier
            result["sub_ids"] = ids if isinstance(ids, list) else [ids]
        if hasattr(props, "TopicAlias"):
            result["alias"] = props.TopicAlias
    return result


def publish_properties(args):
    props = Properties(PacketTypes.PUBLISH)
    any_set = False
    for pair in args.user:
        name, _, value = pair.partition("=")
        if not hasattr(props, "UserProperty"):
            props.UserProperty = []
        # paho appends to UserProperty on assignment of a list of pairs
        props.UserProperty = [(name, value)]
        any_set = True
    if args.response_topic is not None:
        props.ResponseTopic = args.response_topic
        any_set = True
    if args.correlation is not None:
        props.CorrelationData = binascii.unhexlify(args.correlation)
        any_set = True
    if args.content_type is not None:
        props.ContentType = args.content_type
        any_set = True
    if args.payload_format is not None:
        props.PayloadFormatIndicator = args.payload_format
        any_set = True
    if args.expiry is not None:
        props.MessageExpiryInterval = args.expiry
        any_set = True
    return props if any_set else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["sub", "pub", "respond", "will", "hold"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--id", default="")
    parser.add_argument("--clean", choices=["0", "1"], default="1")
    parser.add_argument("--session-expiry", type=int, default=None)
    parser.add_argument("--keepalive", type=int, default=60)
    parser.add_argument("--topic", action="append", default=[])
    parser.add_argument("--qos", type=int, default=0)
    parser.add_argument("--no-local", action="store_true")
    parser.add_argument("--sub-id", type=int, default=None)
    parser.add_argument("--retain", action="store_true")
    parser.add_argument("--message", action="append", default=[])
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--user", action="append", default=[], help="name=value, repeatable, order kept")
    parser.add_argument("--response-topic")
    parser.add_argument("--correlation", help="hex")
    parser.add_argument("--content-type")
    parser.add_argument("--payload-format", type=int)
    parser.add_argument("--expiry", type=int)
    parser.add_argument("--alias", type=int, default=None)
    parser.add_argument("--will-topic")
    parser.add_argument("--will-message", default="")
    parser.add_argument("--will-qos", type=int, default=1)
    parser.add_argument("--will-delay", type=int, default=None)
    args = parser.parse_args()

    client = make_client(args.id)
    connected = threading.Event()
    done = threading.Event()
    state = {"received": 0, "published": 0, "responded": 0, "rc": None}

    def on_connect(_c, _u, flags, rc, properties=None, *_rest):
        state["rc"] = code(rc)
        present = flags.get("session present", 0) if isinstance(flags, dict) else int(getattr(flags, "session_present", 0))
        assigned = getattr(properties, "AssignedClientIdentifier", "-") if properties is not None else "-"
        if state["rc"] == 0:
            out("CONNECTED 0 %d %s" % (int(present), assigned))
        else:
            out("CONNECT_FAILED %d" % state["rc"])
        connected.set()

    def on_subscribe(_c, _u, _mid, granted, *_rest):
        out("SUBSCRIBED " + " ".join(str(code(g)) for g in granted))

    def on_message(c, _u, msg):
        out("MSG5 " + json.dumps(describe(msg), sort_keys=True))
        state["received"] += 1
        if args.command == "respond":
            props = msg.properties
            if hasattr(props, "ResponseTopic"):
                reply = Properties(PacketTypes.PUBLISH)
                if hasattr(props, "CorrelationData"):
                    reply.CorrelationData = props.CorrelationData
                c.publish(props.ResponseTopic, b"re:" + msg.payload, args.qos, properties=reply)
                state["responded"] += 1
                out("RESPONDED %d" % state["responded"])
        if args.count and state["received"] >= args.count:
            done.set()

    def on_publish(_c, _u, _mid, *_rest):
        state["published"] += 1
        out("PUBLISHED %d" % state["published"])
        if args.command == "pub" and state["published"] >= len(args.message):
            done.set()

    disconnected = threading.Event()

    def on_disconnect(*_rest):
        disconnected.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_publish = on_publish
    client.on_disconnect = on_disconnect

    if args.command == "will":
        will_props = None
        if args.will_delay is not None:
            will_props = Properties(PacketTypes.WILLMESSAGE)
            will_props.WillDelayInterval = args.will_delay
        client.will_set(args.will_topic, args.will_message, args.will_qos, False, will_props)

    connect_props = Properties(PacketTypes.CONNECT)
    if args.session_expiry is not None:
        connect_props.SessionExpiryInterval = args.session_expiry
    try:
        client.connect(args.host, args.port, args.keepalive, clean_start=args.clean == "1", properties=connect_props)
    except OSError as e:
        out("ERROR connect: %s" % e)
        return 2
    client.loop_start()
    if not connected.wait(30):
        out("ERROR no CONNACK within 30 s")
        os._exit(2)
    if state["rc"] != 0:
        os._exit(3)

    if args.command in ("sub", "respond"):
        options = SubscribeOptions(qos=args.qos, noLocal=args.no_local)
        sub_props = None
        if args.sub_id is not None:
            sub_props = Properties(PacketTypes.SUBSCRIBE)
            sub_props.SubscriptionIdentifier = args.sub_id
        client.subscribe([(t, options) for t in args.topic], properties=sub_props)
        if args.count:
            done.wait()
        else:
            for _ in sys.stdin:
                pass
    elif args.command == "pub":
        props = publish_properties(args)
        for i, m in enumerate(args.message):
            topic = args.topic[0]
            p = props
            if args.alias is not None:
                p = props if props is not None else Properties(PacketTypes.PUBLISH)
                p.TopicAlias = args.alias
                if i > 0:
                    topic = ""
            client.publish(topic, m, args.qos, args.retain, properties=p)
        if args.message:
            done.wait()
    else:  # will, hold
        for line in sys.stdin:
            if line.strip() == "disconnect":
                break
        else:
            os._exit(0)

    client.disconnect()
    disconnected.wait(10)
    client.loop_stop()
    out("DISCONNECTED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
