import CRDKafka

/// A failure librdkafka reported: its error code's name and its description.
public struct KafkaError: Error, Sendable, CustomStringConvertible, Equatable {
    /// librdkafka's `rd_kafka_resp_err_t` (negative for the client's own errors, positive for the broker's).
    public var code: Int32
    public var description: String

    public init(code: Int32, _ description: String) {
        self.code = code
        self.description = description
    }

    init(_ err: rd_kafka_resp_err_t, _ context: String) {
        let name = rd_kafka_err2name(err).map { String(cString: $0) } ?? "\(err.rawValue)"
        let text = rd_kafka_err2str(err).map { String(cString: $0) } ?? ""
        self.init(code: err.rawValue, "\(context): \(name) (\(text))")
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer, _ context: String) {
        let code = rd_kafka_error_code(error)
        let text = rd_kafka_error_string(error).map { String(cString: $0) } ?? ""
        rd_kafka_error_destroy(error)
        let name = rd_kafka_err2name(code).map { String(cString: $0) } ?? "\(code.rawValue)"
        self.init(code: code.rawValue, "\(context): \(name) (\(text))")
    }

    /// The producer's queue is full: poll and try again.
    public var isQueueFull: Bool { code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue }

    /// Worth sending again (a timeout, a broker or the network down, a leader moving); the rest will not succeed
    /// as they are (a message too large, an unknown topic, authorization).
    public var isRetryable: Bool {
        switch rd_kafka_resp_err_t(rawValue: code) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR__INVALID_ARG, RD_KAFKA_RESP_ERR_INVALID_RECORD,
            RD_KAFKA_RESP_ERR__FATAL:
            false
        default:
            true
        }
    }

    /// Authentication or authorization failed: a person must act.
    public var isAuthorization: Bool {
        switch rd_kafka_resp_err_t(rawValue: code) {
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, RD_KAFKA_RESP_ERR__AUTHENTICATION, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
            true
        default:
            false
        }
    }
}
