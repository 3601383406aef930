import Foundation
import Logging
import Prometheus
import Synchronization

/// The server's Prometheus metrics, on a registry of its own (so several servers can live in one
/// process, as in tests). Gauges that describe the engine are refreshed at each scrape.
///
/// Four gauges follow the Gateway API Inference Extension's model-server protocol, so an endpoint
/// picker can balance replicas on them: `requests_queued` (waiting for a slot), `requests_processing`
/// (holding a slot), `kv_cache_usage_ratio` (0–1) and `kv_cache_block_size_tokens` with
/// `kv_cache_blocks` for its prefix scorer. `gemmactl render --replicas` maps them in the picker's config.
public final class ServerMetrics: Sendable {
    /// The unit, in tokens, in which the KV cache is reported as blocks. llama.cpp reuses a cached prefix
    /// to the token, so this is only the granularity a prefix-aware picker hashes prompts in; 16 is vLLM's
    /// block size, which the picker assumes by default.
    static let kvBlockTokens = 16

    public let registry = PrometheusCollectorRegistry()
    private let logger = Logger(label: "gemmactl.serve")
    /// Whether each model's series carry a `model` label: with several models. A single model's
    /// series stay unlabelled, as before models could be several.
    private let labelsModels: Bool
    private let requestDuration: DurationHistogram
    /// Each model's series, made when the model is first recorded or scraped.
    private let seriesByModel = Mutex([String: ModelSeries]())
    /// Each engine's totals at its last scrape: the counters advance by the difference. A model
    /// loaded again (several models) is a new engine, counting from zero.
    private let countedTotals = Mutex([ObjectIdentifier: DecodeTotals]())
    /// When this server started, as llama-server's `Process-Start-Time-Unix` header gives it:
    /// despite the name, microseconds of the monotonic clock (`ggml_time_us()` at start), which
    /// tells a scraper the process restarted without being a wall-clock time.
    let processStart = LlamaServerMetrics.monotonicMicroseconds()

    /// - Parameter labelsModels: give every model's series a `model` label (a server of several models).
    public init(labelsModels: Bool = false) {
        self.labelsModels = labelsModels
        requestDuration = registry.makeDurationHistogram(
            descriptor: .gemmactl("request_duration_seconds", help: "Time until a response starts (a streamed body continues after)."),
            buckets: [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                      .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120)])
    }

    /// Counts one answered request.
    func recordRequest(endpoint: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: .gemmactl("requests_total", help: "HTTP requests answered, by endpoint and status."),
                             labels: [("endpoint", endpoint), ("status", String(status))]).increment()
        requestDuration.record(duration)
    }

    /// Records a finished generation of the model `modelID` (and logs its token counts: never the text).
    func record(_ stats: GenerationStats, model modelID: String) {
        logger.info("generation", metadata: [
            "model": "\(modelID)",
            "slot": "\(stats.slot)", "prompt_tokens": "\(stats.promptTokens)", "cached_tokens": "\(stats.cachedTokens)",
            "completion_tokens": "\(stats.completionTokens)", "finish_reason": "\(stats.finishReason.rawValue)",
            "queue_ms": "\(Int(stats.queueDuration.milliseconds))", "prompt_ms": "\(Int(stats.promptDuration.milliseconds))",
            "generation_ms": "\(Int(stats.generationDuration.milliseconds))",
        ])
        series(for: modelID).record(stats)
    }

    /// Prometheus text, with the engine gauges of every model refreshed first: gemmactl's metrics (each
    /// model's series, labelled with several), then llama-server's for `host` (the default model, or the
    /// one `?model=` names, as llama-server's router answers for one model; its rate gauges cover the
    /// time since that model's previous scrape).
    func render(hosts: [ModelHost], selected host: ModelHost) -> [UInt8] {
        for each in hosts {
            let own = series(for: each.modelID)
            if let loaded = each.loaded {
                own.refresh(from: loaded, advancing: newDecodes(of: loaded.engine))
            } else {
                own.ready.set(to: 0)
            }
        }
        var llamaServerText = ""
        if let loaded = host.loaded {
            let slots = loaded.engine.slots
            llamaServerText = series(for: host.modelID).llamaServer.withLock {
                $0.scrape(processing: slots.filter(\.isProcessing).count, deferred: loaded.engine.queuedCount,
                          decodes: loaded.engine.decodeTotals)
            }
        }
        return registry.emitToBuffer() + Array(llamaServerText.utf8)
    }

    private func series(for modelID: String) -> ModelSeries {
        seriesByModel.withLock { all in
            if let existing = all[modelID] { return existing }
            let made = ModelSeries(registry: registry, labels: labelsModels ? [("model", modelID)] : [])
            all[modelID] = made
            return made
        }
    }

    /// The decode calls and tokens the engine made since its last scrape.
    private func newDecodes(of engine: InferenceEngine) -> (calls: Int, tokens: Int) {
        let totals = engine.decodeTotals
        return countedTotals.withLock { counted in
            let key = ObjectIdentifier(engine)
            // An engine's totals only grow; one whose identity is reused by a newer engine starts again.
            let last = counted[key].flatMap { $0.calls <= totals.calls && $0.tokens <= totals.tokens ? $0 : nil } ?? DecodeTotals()
            counted[key] = totals
            return (totals.calls - last.calls, totals.tokens - last.tokens)
        }
    }
}

/// One model's series in the server's registry: fed by its finished requests, and refreshed from its
/// engine at each scrape.
private final class ModelSeries: Sendable {
    // Fed by finished requests.
    let promptTokens: Counter, cachedTokens: Counter, generatedTokens: Counter
    let promptSeconds: Counter, generationSeconds: Counter, promptRate: Gauge, generationRate: Gauge
    // Refreshed from the engine at each scrape.
    let processing: Gauge, queued: Gauge, slotsBusy: Gauge, slotsTotal: Gauge
    let kvUsage: Gauge, kvTokens: Gauge, kvBlockSize: Gauge, kvBlocks: Gauge
    let loadSeconds: Gauge, ready: Gauge
    let decodeCalls: Counter, decodeTokens: Counter, slotsPerDecode: Gauge
    let promptCacheBytes: Gauge, promptCacheEntries: Gauge, promptCacheTokens: Gauge
    /// llama-server's `llamacpp:*` metrics, for dashboards and autoscalers written for it.
    let llamaServer = Mutex(LlamaServerMetrics())

    init(registry: PrometheusCollectorRegistry, labels: [(String, String)]) {
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: .gemmactl(name, help: help), labels: labels)
        }
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: .gemmactl(name, help: help), labels: labels)
        }
        // Tokens and time, per finished request.
        promptTokens = counter("prompt_tokens_total", "Prompt tokens processed, cached ones included.")
        cachedTokens = counter("prompt_tokens_cached_total", "Prompt tokens reused from a slot's KV cache.")
        generatedTokens = counter("generated_tokens_total", "Tokens generated.")
        promptSeconds = counter("prompt_seconds_total", "Time spent evaluating prompts.")
        generationSeconds = counter("generation_seconds_total", "Time spent generating tokens.")
        // Rates of the last request.
        generationRate = gauge("generation_tokens_per_second", "Generated tokens per second of the last request.")
        promptRate = gauge("prompt_tokens_per_second", "Prompt tokens per second of the last request.")
        // Requests and slots (the model-server protocol's queue and running gauges among them).
        processing = gauge("requests_processing", "Requests holding a slot.")
        queued = gauge("requests_queued", "Requests waiting for a slot.")
        slotsBusy = gauge("slots_busy", "Slots processing a request.")
        slotsTotal = gauge("slots", "Slots configured (--parallel).")
        // The KV cache.
        kvUsage = gauge("kv_cache_usage_ratio", "Share of the KV cache held by running requests, 0 to 1 (an idle slot's reusable prefix is free).")
        kvTokens = gauge("kv_cache_tokens", "Tokens held in the KV cache, idle slots' reusable prefixes included.")
        kvBlockSize = gauge("kv_cache_block_size_tokens", "Tokens per block in kv_cache_blocks.")
        kvBlocks = gauge("kv_cache_blocks", "KV cache capacity of all slots, in blocks.")
        // The model.
        loadSeconds = gauge("model_load_seconds", "Time the model took to load.")
        ready = gauge("model_ready", "1 once the model is loaded.")
        // Decode batching.
        decodeCalls = counter("decode_calls_total", "llama_decode calls (one per engine step).")
        decodeTokens = counter("decode_tokens_total", "Tokens those calls carried, prompt and generated.")
        slotsPerDecode = gauge("busy_slots_per_decode", "Slots sharing an average decode call: how well concurrent requests are batched.")
        // The prompt cache.
        promptCacheBytes = gauge("prompt_cache_bytes", "Host memory held by prompt states kept after their slot moved on (--cache-ram).")
        promptCacheEntries = gauge("prompt_cache_prompts", "Prompts kept in the prompt cache.")
        promptCacheTokens = gauge("prompt_cache_tokens", "Tokens of the prompts kept in the prompt cache.")
    }

    func record(_ stats: GenerationStats) {
        llamaServer.withLock { $0.record(stats) }
        promptTokens.increment(by: Int64(stats.promptTokens))
        cachedTokens.increment(by: Int64(stats.cachedTokens))
        generatedTokens.increment(by: Int64(stats.completionTokens))
        let promptTime = stats.promptDuration.seconds, generationTime = stats.generationDuration.seconds
        promptSeconds.increment(by: promptTime)
        generationSeconds.increment(by: generationTime)
        if promptTime > 0 { promptRate.set(to: Double(stats.promptTokens - stats.cachedTokens) / promptTime) }
        if generationTime > 0, stats.completionTokens > 1 { generationRate.set(to: Double(stats.completionTokens - 1) / generationTime) }
    }

    func refresh(from loaded: ModelHost.Loaded, advancing decodes: (calls: Int, tokens: Int)) {
        let slots = loaded.engine.slots
        let running = slots.filter(\.isProcessing)
        let held = slots.reduce(0) { $0 + $1.kvTokens }
        // Like vLLM's kv_cache_usage_perc, only what running requests hold counts as used: an idle
        // slot keeps its tokens for prefix reuse but gives them up to the next request at no cost.
        let inUse = running.reduce(0) { $0 + $1.kvTokens }
        let capacity = slots.reduce(0) { $0 + $1.contextSize }
        processing.set(to: Double(running.count))
        slotsBusy.set(to: Double(running.count))
        slotsTotal.set(to: Double(slots.count))
        queued.set(to: Double(loaded.engine.queuedCount))
        kvTokens.set(to: Double(held))
        kvUsage.set(to: capacity > 0 ? Double(inUse) / Double(capacity) : 0)
        kvBlockSize.set(to: Double(ServerMetrics.kvBlockTokens))
        kvBlocks.set(to: Double(capacity / ServerMetrics.kvBlockTokens))
        loadSeconds.set(to: loaded.loadDuration.seconds)
        decodeCalls.increment(by: Int64(decodes.calls))
        decodeTokens.increment(by: Int64(decodes.tokens))
        let totals = loaded.engine.decodeTotals
        if totals.calls > 0 { slotsPerDecode.set(to: Double(totals.busySlots) / Double(totals.calls)) }
        let cache = loaded.engine.promptCacheUsage
        promptCacheBytes.set(to: Double(cache.bytes))
        promptCacheEntries.set(to: Double(cache.entries))
        promptCacheTokens.set(to: Double(cache.tokens))
        ready.set(to: 1)
    }
}

/// llama-server's `llamacpp:*` metrics, with its names, help texts and types (as its pinned
/// version writes them). Two of its choices fail `promtool check metrics`'s lint and are kept so
/// queries written for llama-server work unchanged: the `:` in every name (Prometheus reserves it
/// for recording rules) and `n_tokens_max`, a counter without `_total` that holds a maximum.
/// The `spec_decode_*` counters come from the engine's totals (verified drafts), as llama-server
/// counts them over its life.
struct LlamaServerMetrics {
    /// Prompt tokens evaluated (cached ones not), and the time they took.
    private var promptTokens = 0, promptSeconds = 0.0
    private var cachedTokens = 0
    /// Generated tokens, and the time generating took (after each request's first token).
    private var predictedTokens = 0, predictedSeconds = 0.0
    private var longestSequence = 0
    /// Since the last scrape, for the rate gauges: tokens or steps, and seconds.
    private var promptWindow = (steps: 0, seconds: 0.0), predictWindow = (steps: 0, seconds: 0.0)

    mutating func record(_ stats: GenerationStats) {
        let evaluated = max(0, stats.promptTokens - stats.cachedTokens)
        promptTokens += evaluated
        cachedTokens += stats.cachedTokens
        promptSeconds += stats.promptDuration.seconds
        predictedTokens += stats.completionTokens
        predictedSeconds += stats.generationDuration.seconds
        longestSequence = max(longestSequence, stats.promptTokens + stats.completionTokens)
        promptWindow.steps += evaluated
        promptWindow.seconds += stats.promptDuration.seconds
        // As llama-server: the first token comes with the prompt's decode, so it is not a step.
        predictWindow.steps += max(0, stats.completionTokens - 1)
        predictWindow.seconds += stats.generationDuration.seconds
    }

    /// The text for one scrape; starts the rate gauges' next window.
    mutating func scrape(processing: Int, deferred: Int, decodes: DecodeTotals) -> String {
        func rate(_ window: (steps: Int, seconds: Double)) -> Double { window.seconds > 0 ? Double(window.steps) / window.seconds : 0 }
        let counters: [(String, String, Double)] = [
            ("prompt_tokens_total", "Number of prompt tokens processed, excluding cached tokens", Double(promptTokens)),
            ("prompt_tokens_cached_total", "Number of prompt tokens reused from the cache", Double(cachedTokens)),
            ("prompt_seconds_total", "Total time spent processing prompts", promptSeconds),
            ("tokens_predicted_total", "Number of generation tokens processed", Double(predictedTokens)),
            ("tokens_predicted_seconds_total", "Total time spent generating tokens", predictedSeconds),
            ("n_decode_total", "Total number of llama_decode() calls, excluding speculative decoding and multimodal decoding",
             Double(decodes.calls)),
            ("n_tokens_max", "Largest observed sequence length (prompt + generation)", Double(longestSequence)),
            ("spec_decode_num_draft_tokens_total", "Speculative: Total draft tokens generated", Double(decodes.drafts.tokens)),
            ("spec_decode_num_accepted_tokens_total", "Speculative: Total draft tokens accepted by the target model",
             Double(decodes.drafts.accepted)),
            ("spec_decode_num_drafts_total", "Speculative: Total speculative decoding verification steps", Double(decodes.drafts.verified)),
        ]
        let gauges: [(String, String, Double)] = [
            ("prompt_tokens_seconds", "Average prompt throughput in tokens/s", rate(promptWindow)),
            ("predicted_tokens_seconds", "Average generation throughput in tokens/s", rate(predictWindow)),
            ("requests_processing", "Number of requests processing", Double(processing)),
            ("requests_deferred", "Number of requests deferred", Double(deferred)),
            ("n_busy_slots_per_decode", "Average number of busy slots per llama_decode() call",
             Double(decodes.busySlots) / Double(max(decodes.calls, 1))),
        ]
        promptWindow = (0, 0)
        predictWindow = (0, 0)
        func lines(_ type: String, _ items: [(String, String, Double)]) -> String {
            items.map { name, help, value in
                "# HELP llamacpp:\(name) \(help)\n# TYPE llamacpp:\(name) \(type)\nllamacpp:\(name) \(Self.format(value))\n"
            }.joined()
        }
        return lines("counter", counters) + lines("gauge", gauges)
    }

    /// Whole numbers without a fraction, as llama-server prints them.
    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    static func monotonicMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}

extension MetricNameDescriptor {
    /// `gemmactl_<name>`, the name given whole (unit suffix included).
    static func gemmactl(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "gemmactl", metricName: name, unitName: "", helpText: help)
    }
}
