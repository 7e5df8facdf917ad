import ServiceLifecycle

/// Sleeps, but wakes at once when the service group starts shutting down (or the task is cancelled).
public func pause(_ duration: Duration) async {
    try? await cancelWhenGracefulShutdown {
        try await Task.sleep(for: duration)
    }
}
