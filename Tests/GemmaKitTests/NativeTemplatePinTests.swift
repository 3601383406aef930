import Foundation
@testable import GemmaKit
import Testing

/// Tools rendered by llama.cpp's chat layer as the stock llama-server renders them (pinned from
/// its `/apply-template` at the pinned commit, with the default model and each template file; see
/// scripts/check-templates, which compares more templates and chats). The tool's schema keys are
/// in the client's order, not sorted, as llama-server passes them on.
@Suite("Tools in a template's own syntax, as llama-server renders them")
struct NativeTemplatePinTests {
    static let tool = ##"{"type":"function","function":{"name":"get_weather","description":"The weather in a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"The city."},"unit":{"type":"string","enum":["c","f"]},"days":{"type":"integer"}},"required":["city"]}}}"##
    static let kwargs = #"{"enable_thinking":false,"date_string":"26 Jul 2024"}"#
    /// The chat: one user message, the tool, thinking off, Llama 3.1's date fixed.
    static let chat = ##"{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":["## + tool + ##"],"chat_template_kwargs":"## + kwargs + "}"

    /// What llama-server answered, by template; gpt-oss writes today's date (`{{TODAY}}`).
    static let expected: [String: String] = {
        let json = ##"{"google-gemma-4-31B-it": "<|turn>system\n<|tool>declaration:get_weather{description:<|\"|>The weather in a city.<|\"|>,parameters:{properties:{city:{description:<|\"|>The city.<|\"|>,type:<|\"|>STRING<|\"|>},days:{type:<|\"|>INTEGER<|\"|>},unit:{enum:[<|\"|>c<|\"|>,<|\"|>f<|\"|>],type:<|\"|>STRING<|\"|>}},required:[<|\"|>city<|\"|>],type:<|\"|>OBJECT<|\"|>}}<tool|><turn|>\n<|turn>user\nWeather in Paris?<turn|>\n<|turn>model\n<|channel>thought\n<channel|>", "Qwen-Qwen3-0.6B": "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"The weather in a city.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"The city.\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}, \"days\": {\"type\": \"integer\"}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", "meta-llama-Llama-3.1-8B-Instruct": "<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"description\": \"The weather in a city.\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\",\n                    \"description\": \"The city.\"\n                },\n                \"unit\": {\n                    \"type\": \"string\",\n                    \"enum\": [\n                        \"c\",\n                        \"f\"\n                    ]\n                },\n                \"days\": {\n                    \"type\": \"integer\"\n                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n        }\n    }\n}\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "openai-gpt-oss-120b": "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: {{TODAY}}\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.\nCalls to these tools must go to the commentary channel: 'functions'.<|end|><|start|>developer<|message|># Tools\n\n## functions\n\nnamespace functions {\n\n// The weather in a city.\ntype get_weather = (_: {\n// The city.\ncity: string,\nunit?: \"c\" | \"f\",\ndays?: number,\n}) => any;\n\n} // namespace functions<|end|><|start|>user<|message|>Weather in Paris?<|end|><|start|>assistant", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": "<|im_start|>system\nYou are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. You may call one or more functions to assist with the user query. Don't make assumptions about what values to plug into functions. Here are the available tools: <tools> {\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"get_weather(city: str, unit: str, days: int) - The weather in a city.\n\n    Args:\n        city(str): The city.        unit(str):         days(int): \", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"The city.\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}, \"days\": {\"type\": \"integer\"}}, \"required\": [\"city\"]}} </tools>Use the following pydantic model json schema for each tool call you will make: {\"properties\": {\"name\": {\"title\": \"Name\", \"type\": \"string\"}, \"arguments\": {\"title\": \"Arguments\", \"type\": \"object\"}}, \"required\": [\"name\", \"arguments\"], \"title\": \"FunctionCall\", \"type\": \"object\"}}\nFor each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags as follows:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-dict>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n"}"##
        let pinned = (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        return pinned.mapValues { $0.replacingOccurrences(of: "{{TODAY}}", with: formatter.string(from: Date())) }
    }()

    @Test(arguments: ["google-gemma-4-31B-it", "Qwen-Qwen3-0.6B", "meta-llama-Llama-3.1-8B-Instruct", "openai-gpt-oss-120b",
                      "NousResearch-Hermes-3-Llama-3.1-8B-tool_use"])
    func toolsRenderAsLlamaServerDoes(template: String) throws {
        let formatter = try ChatFormatter(model: TestModel.shared, options: try LlamaTemplates.options(template))
        let request = ChatRenderRequest(messagesJSON: Data(#"[{"role":"user","content":"Weather in Paris?"}]"#.utf8),
                                        toolsJSON: Data("[\(Self.tool)]".utf8), toolChoice: .auto, reasoningFormat: .auto,
                                        enableThinking: formatter.supportsThinking, templateKwargsJSON: Self.kwargs)
        let rendering = try #require(try formatter.rendering(request))
        #expect(rendering.prompt == Self.expected[template], "\(template)")
    }

    /// Over HTTP the tools keep the request's own text (the schema's keys unsorted).
    @Test func applyTemplateKeepsTheToolsKeyOrder() async throws {
        let options = try LlamaTemplates.options("Qwen-Qwen3-0.6B")
        try await TestServer.with(slots: 1, configure: { $0.chatTemplate = options }) { server in
            let applied = try await server.request(.POST, "/apply-template", body: Self.chat)
            #expect(applied.status == 200, "\(applied.body)")
            #expect(applied.object["prompt"] as? String == Self.expected["Qwen-Qwen3-0.6B"])
        }
    }
}
