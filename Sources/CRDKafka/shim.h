// librdkafka's client API and its in-process mock cluster (a real Kafka protocol on loopback).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
