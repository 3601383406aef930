import Foundation

/// One generation slot, read leniently from llama-server's or gemmactl's `/slots` JSON.
/// Every field is written, missing ones as `null`, so scripts see the same keys from every server.
public struct SlotStatus: Sendable, Encodable, Equatable {
    @WrittenAsNull public var id: Int? = nil
    @WrittenAsNull public var processing: Bool? = nil
    @WrittenAsNull public var contextSize: Int? = nil
    @WrittenAsNull public var promptTokens: Int? = nil
    @WrittenAsNull public var cachedTokens: Int? = nil
    @WrittenAsNull public var generatedTokens: Int? = nil
    @WrittenAsNull public var task: Int? = nil
    /// The model whose slot it is, on a server of several models.
    @WrittenAsNull public var model: String? = nil

    public init(id: Int? = nil, processing: Bool? = nil, contextSize: Int? = nil, promptTokens: Int? = nil,
                cachedTokens: Int? = nil, generatedTokens: Int? = nil, task: Int? = nil, model: String? = nil) {
        self.id = id; self.processing = processing; self.contextSize = contextSize; self.promptTokens = promptTokens
        self.cachedTokens = cachedTokens; self.generatedTokens = generatedTokens; self.task = task; self.model = model
    }

    enum CodingKeys: String, CodingKey {
        case id, processing = "is_processing", contextSize = "n_ctx", promptTokens = "prompt_tokens"
        case cachedTokens = "cached_tokens", generatedTokens = "generated_tokens", task = "id_task", model
    }

    public var state: String { processing.map { $0 ? "processing" : "idle" } ?? "-" }

    /// Reads one element of a `/slots` array; unknown or missing fields stay nil.
    init(json: [String: Any]) {
        id = jsonInt(json["id"])
        if let flag = jsonBool(json["is_processing"]) {
            processing = flag
        } else if let state = jsonInt(json["state"]) {
            processing = state != 0 // older llama-server: 0 idle, 1 processing
        }
        contextSize = jsonInt(json["n_ctx"])
        promptTokens = jsonInt(json["n_prompt_tokens"]) ?? jsonInt(json["n_prompt_tokens_processed"])
        cachedTokens = jsonInt(json["n_cached_tokens"]) ?? jsonInt(json["n_prompt_tokens_cache"]) ?? jsonInt(json["tokens_cached"])
        if let next = json["next_token"] as? [String: Any] {
            generatedTokens = jsonInt(next["n_decoded"])
        } else if let array = json["next_token"] as? [[String: Any]], let first = array.first {
            generatedTokens = jsonInt(first["n_decoded"])
        }
        generatedTokens = generatedTokens ?? jsonInt(json["n_decoded"])
        task = jsonInt(json["id_task"]) ?? jsonInt(json["task_id"])
        if task == -1 { task = nil }
    }
}

/// A model Ollama has loaded (`/api/ps`).
/// Every field is written, missing ones as `null`, as `SlotStatus`.
public struct OllamaLoadedModel: Sendable, Encodable, Equatable {
    public var name: String
    @WrittenAsNull public var sizeBytes: UInt64? = nil
    @WrittenAsNull public var vramBytes: UInt64? = nil
    @WrittenAsNull public var contextLength: Int? = nil
    @WrittenAsNull public var expiresAt: String? = nil

    enum CodingKeys: String, CodingKey {
        case name, sizeBytes = "size", vramBytes = "size_vram", contextLength = "context_length", expiresAt = "expires_at"
    }

    init(json: [String: Any]) {
        name = (json["name"] ?? json["model"]) as? String ?? "-"
        sizeBytes = jsonInt(json["size"]).map { UInt64(max(0, $0)) }
        vramBytes = jsonInt(json["size_vram"]).map { UInt64(max(0, $0)) }
        contextLength = jsonInt(json["context_length"])
        expiresAt = json["expires_at"] as? String
    }
}

/// A model of a server that serves several (gemmactl's, llama-server's router), as `GET /models` lists it.
public struct RouterModel: Sendable, Encodable, Equatable {
    public var id: String
    /// llama-server's router status: `loaded`, `loading`, `unloaded`, `sleeping`, …
    public var status: String
}

/// What `gemmactl slots` shows: slots for llama.cpp servers (with several models, each loaded
/// model's, and every model's status), loaded models for Ollama.
public enum SlotsSnapshot: Sendable, Equatable {
    case slots([SlotStatus])
    case models([RouterModel], slots: [SlotStatus])
    case ollama([OllamaLoadedModel])

    /// Fetches `/slots`; from a server of several models, `/slots?model=` of each loaded one (asking
    /// never loads a model); `/api/ps` when the server is Ollama (no `/slots`, `/api/version` answers).
    public static func fetch(_ client: OpsClient) async throws(OpsError) -> SlotsSnapshot {
        if let models = try await routerModels(client) {
            var slots: [SlotStatus] = []
            for model in models where model.status == "loaded" {
                let query = model.id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? model.id
                let response = try await client.get("/slots?model=\(query)")
                // A model unloaded between the two reads has no slots to show.
                if response.status == 503 { continue }
                guard response.status == 200, case .slots(let own) = try parseSlots(response.body) else {
                    throw OpsError(.badResponse, "\(client.endpoint.baseURL)/slots?model=\(model.id) answered \(response.status): \(response.errorMessage)",
                                   recovery: "read the server's logs")
                }
                slots += own.map { var slot = $0; slot.model = model.id; return slot }
            }
            return .models(models, slots: slots)
        }
        let response = try await client.get("/slots")
        switch response.status {
        case 200:
            return try parseSlots(response.body)
        case 401, 403:
            throw OpsError(.keyRejected, "\(client.endpoint.baseURL)/slots answered \(response.status): \(response.errorMessage)",
                           recovery: client.endpoint.apiKey == nil ? "pass --api-key-file PATH or set GEMMA_API_KEY"
                               : "check the key in --api-key-file / GEMMA_API_KEY")
        case 404, 501:
            if let ps = try? await client.get("/api/ps"), ps.status == 200, let object = ps.json as? [String: Any],
               let models = object["models"] as? [[String: Any]] {
                return .ollama(models.map(OllamaLoadedModel.init(json:)))
            }
            throw OpsError(.badResponse, "\(client.endpoint.baseURL)/slots answered \(response.status): \(response.errorMessage)",
                           recovery: response.status == 501
                               ? "llama-server disables /slots by default in some versions: start it with --slots"
                               : "check --url: it should point at gemmactl serve, llama-server or Ollama")
        default:
            throw OpsError(.badResponse, "\(client.endpoint.baseURL)/slots answered \(response.status): \(response.errorMessage)",
                           recovery: "read the server's logs")
        }
    }

    /// The models `GET /models` lists with a router status, when there are several; nil otherwise
    /// (one model, a server without /models, Ollama).
    static func routerModels(_ client: OpsClient) async throws(OpsError) -> [RouterModel]? {
        let response = try await client.get("/models")
        guard response.status == 200, let object = response.json as? [String: Any], let data = object["data"] as? [[String: Any]] else {
            return nil
        }
        let models = data.compactMap { entry -> RouterModel? in
            guard let id = entry["id"] as? String, let status = entry["status"] as? [String: Any],
                  let value = status["value"] as? String else { return nil }
            return RouterModel(id: id, status: value)
        }
        return models.count > 1 && models.count == data.count ? models : nil
    }

    public static func parseSlots(_ body: Data) throws(OpsError) -> SlotsSnapshot {
        let json = try? JSONSerialization.jsonObject(with: body)
        guard let array = json as? [Any] else {
            throw OpsError(.badResponse, "/slots did not answer a JSON array: \(String(decoding: body.prefix(120), as: UTF8.self))",
                           recovery: "check --url points at gemmactl serve or llama-server")
        }
        return .slots(array.compactMap { $0 as? [String: Any] }.map(SlotStatus.init(json:)))
    }

    /// A fixed-width table.
    public var table: String {
        func cell(_ value: Int?) -> String { value.map(String.init) ?? "-" }
        switch self {
        case .slots(let slots):
            var rows = [["ID", "STATE", "CTX", "PROMPT", "CACHED", "GENERATED", "TASK"]]
            for slot in slots {
                rows.append([cell(slot.id), slot.state, cell(slot.contextSize), cell(slot.promptTokens),
                             cell(slot.cachedTokens), cell(slot.generatedTokens), cell(slot.task)])
            }
            let busy = slots.filter { $0.processing == true }.count
            return Self.render(rows) + "\n\(busy) of \(slots.count) slots processing"
        case .models(let models, let slots):
            var rows = [["MODEL", "ID", "STATE", "CTX", "PROMPT", "CACHED", "GENERATED", "TASK"]]
            for model in models {
                let own = slots.filter { $0.model == model.id }
                // A model with no slots to show is one row, its status in the STATE column.
                if own.isEmpty { rows.append([model.id, "-", model.status, "-", "-", "-", "-", "-"]) }
                for slot in own {
                    rows.append([model.id, cell(slot.id), slot.state, cell(slot.contextSize), cell(slot.promptTokens),
                                 cell(slot.cachedTokens), cell(slot.generatedTokens), cell(slot.task)])
                }
            }
            let busy = slots.filter { $0.processing == true }.count
            let loaded = models.filter { $0.status == "loaded" }.count
            return Self.render(rows) + "\n\(busy) of \(slots.count) slots processing; \(loaded) of \(models.count) models loaded"
        case .ollama(let models):
            var rows = [["MODEL", "SIZE", "VRAM", "CONTEXT", "EXPIRES"]]
            for model in models {
                rows.append([model.name, model.sizeBytes.map(ByteSize.format) ?? "-", model.vramBytes.map(ByteSize.format) ?? "-",
                             cell(model.contextLength), model.expiresAt ?? "-"])
            }
            return Self.render(rows) + "\n\(models.count) model\(models.count == 1 ? "" : "s") loaded (Ollama)"
        }
    }

    /// JSON for scripts: `{"server":"llama","slots":[…]}` (with several models also `"models":[{"id","status"}]`,
    /// and each slot's `model`) or `{"server":"ollama","models":[…]}`, missing fields null.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        struct SlotsDocument: Encodable { var server = "llama"; var slots: [SlotStatus]; var models: [RouterModel]? = nil }
        struct OllamaDocument: Encodable { var server = "ollama"; var models: [OllamaLoadedModel] }
        let data: Data?
        switch self {
        case .slots(let slots): data = try? encoder.encode(SlotsDocument(slots: slots))
        case .models(let models, let slots): data = try? encoder.encode(SlotsDocument(slots: slots, models: models))
        case .ollama(let models): data = try? encoder.encode(OllamaDocument(models: models))
        }
        return String(decoding: data ?? Data("{}".utf8), as: UTF8.self)
    }

    static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}

