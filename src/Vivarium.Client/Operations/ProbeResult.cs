using System.Net;

namespace Vivarium.Client;

/// <summary>
/// The answer of a health probe (<c>/healthz</c>, <c>/readyz</c>). An unhealthy answer is a result,
/// not an exception: a probe exists to be asked when things are wrong.
/// </summary>
/// <param name="StatusCode">The HTTP status.</param>
/// <param name="Body">The body as text; the contract does not fix its shape.</param>
public sealed record ProbeResult(HttpStatusCode StatusCode, string Body)
{
    /// <summary>True for a 2xx status: alive for <c>/healthz</c>, ready to serve for <c>/readyz</c>.</summary>
    public bool IsOk => (int)StatusCode is >= 200 and <= 299;
}
