use std::sync::Arc;

use crate::daemon::core::Core;
use crate::protocol::{ErrorCode, LlmTestReport, Response};

pub async fn test(core: &Arc<Core>) -> Response {
    let Some(llm) = core.llm() else {
        return Response::error(
            ErrorCode::Failed,
            "no model is configured",
            Some("add an [llm] section to the config (the README's LLM section shows how)".into()),
        );
    };
    let status = llm.status();
    match llm.test().await {
        Ok((answer, broken, text)) => Response::LlmTested {
            report: LlmTestReport {
                provider: status.provider,
                model: answer.model,
                latency_ms: answer.latency.as_millis() as u64,
                usage: answer.usage,
                reply: answer.reply,
                broke_contract: broken.map(|e| e.to_string()),
                text: text.chars().take(2000).collect(),
            },
        },
        Err(e) => Response::error(ErrorCode::Failed, e.to_string(), None),
    }
}
