import ArgumentParser
import Foundation
import GemmaKit

extension Gemmactl {
    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Generate a new API key and put it where the server reads it, with zero downtime.",
            discussion: """
                A key is a prefix (gk_) and 256 bits from the system's CSPRNG, base64url. It is written to \
                each target and printed only with --show. Files are replaced atomically with mode 0600.

                --keys-file adds the new key and keeps the old ones valid; a running gemmactl serve picks \
                the change up by itself. When every client has moved, --finish removes the old keys. \
                --grace records a deadline for the old keys in the file; the next rotate-key drops keys \
                past it. --k8s-secret keeps the key it replaces (read with kubectl) as api-key-previous, \
                which the rendered sidecar and serve accept too; --finish --apply removes it. --tfvars keeps \
                the key it replaces in <variable>_previous (gemma_api_key_previous), for Terraform to store \
                in the vault and the ExternalSecret to sync (secret.previousRemoteKey); --finish empties it.

                Examples:
                  gemmactl rotate-key --keys-file /etc/gemma/keys --verify --url http://127.0.0.1:8000
                  gemmactl rotate-key --keys-file /etc/gemma/keys --finish --verify
                  gemmactl rotate-key --tfvars infra/terraform.tfvars
                  gemmactl rotate-key --tfvars infra/terraform.tfvars --finish
                  gemmactl rotate-key --k8s-secret gemma-api-key --namespace llm --apply
                  gemmactl rotate-key --k8s-secret gemma-api-key --namespace llm --finish --apply
                  gemmactl rotate-key --show          # just print a fresh key
                """
        )

        @Option(name: .customLong("keys-file"), help: ArgumentHelp("A keys file read by gemmactl serve --api-key-file.", valueName: "path"))
        var keysFile: String?

        @Flag(help: "Remove the old keys from --keys-file (the previous key from --tfvars, api-key-previous from --k8s-secret with --apply), keeping only the current one.")
        var finish = false

        @Option(help: ArgumentHelp("Keep the old keys valid for this long (recorded in --keys-file), e.g. 24h.", valueName: "duration"),
                transform: ArgumentValue.duration)
        var grace: Duration?

        @Option(help: ArgumentHelp("A terraform.tfvars file whose API key variable to replace.", valueName: "path"))
        var tfvars: String?

        @Option(name: .customLong("tfvars-variable"), help: ArgumentHelp("The variable to replace in --tfvars.", valueName: "name"))
        var tfvarsVariable: String = TfvarsFile.defaultVariable

        @Option(name: .customLong("k8s-secret"), help: ArgumentHelp("Print (or --apply) a Kubernetes Secret with this name holding the new key.", valueName: "name"))
        var secretName: String?

        @Option(help: ArgumentHelp("The Secret's namespace.", valueName: "namespace"))
        var namespace: String?

        @Option(name: .customLong("secret-key"), help: ArgumentHelp("The key inside the Secret's data.", valueName: "name"))
        var secretDataKey: String = "api-key"

        @Flag(help: "Pipe the Secret to `kubectl apply -f -` instead of printing it.")
        var apply = false

        @Option(help: ArgumentHelp("The new key's prefix.", valueName: "text"))
        var prefix: String = APIKey.defaultPrefix

        @Flag(help: "Print the new key on stdout (otherwise it goes to its targets only).")
        var show = false

        @Flag(help: "Check against --url that the server accepts the new key (and, with --finish, rejects the old ones).")
        var verify = false

        @Option(name: .customLong("verify-timeout"), help: ArgumentHelp("How long --verify waits for the server to reload its keys (default: 15s).", valueName: "duration"),
                transform: ArgumentValue.duration)
        var verifyTimeout: Duration = .seconds(15)

        @OptionGroup var client: Flags.Client

        func validate() throws {
            if finish {
                guard keysFile != nil || tfvars != nil || (secretName != nil && apply) else {
                    throw ValidationError("--finish needs --keys-file PATH, --tfvars PATH or --k8s-secret NAME --apply: they hold the old keys to remove")
                }
                if grace != nil {
                    throw ValidationError("--finish removes the old keys now; drop --grace")
                }
                if verify && keysFile == nil {
                    throw ValidationError("--finish --verify checks a keys file's rotation; after finishing a Secret, check with gemmactl health once the pods see it")
                }
            }
            if keysFile == nil && tfvars == nil && secretName == nil && !show {
                throw ValidationError("choose where the new key goes: --keys-file PATH, --tfvars PATH, --k8s-secret NAME, or --show to print it")
            }
            if grace != nil, keysFile == nil { throw ValidationError("--grace needs --keys-file PATH (the deadline is recorded there)") }
            if apply && secretName == nil { throw ValidationError("--apply needs --k8s-secret NAME") }
            if namespace != nil && secretName == nil { throw ValidationError("--namespace needs --k8s-secret NAME") }
            if let secretName, !KeySecretManifest.isValidName(secretName) {
                throw ValidationError("--k8s-secret '\(secretName)' is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.'")
            }
            if let namespace, !KeySecretManifest.isValidName(namespace) {
                throw ValidationError("--namespace '\(namespace)' is not a valid Kubernetes namespace name")
            }
            if show && secretName != nil && !apply {
                throw ValidationError("--show with --k8s-secret would print the key twice: the manifest on stdout already holds it")
            }
            guard prefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw ValidationError("--prefix may hold only letters, digits, '_' and '-', got '\(prefix)'")
            }
            if verify && keysFile == nil && !(secretName != nil && apply) {
                throw ValidationError("--verify checks a key the server already reads: use it with --keys-file or --k8s-secret … --apply; after terraform apply, check with gemmactl health")
            }
            if client.json { throw ValidationError("rotate-key has no --json output: it prints the key only with --show") }
        }

        func run() async throws {
            var options = KeyRotator.Options()
            options.keysFile = keysFile
            options.tfvars = tfvars
            options.tfvarsVariable = tfvarsVariable
            options.secretName = secretName
            options.secretNamespace = namespace
            options.secretDataKey = secretDataKey
            options.applySecret = apply
            options.finish = finish
            options.grace = grace
            options.prefix = prefix
            options.show = show
            options.verifyTimeout = verifyTimeout
            if verify { options.verify = try client.endpoint() }
            let output = OpsOutput(stdout: { Console.write($0) }, info: { Console.info($0) })
            try await KeyRotator(options: options, output: output).run()
        }
    }
}
