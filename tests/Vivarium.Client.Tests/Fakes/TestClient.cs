using Microsoft.Extensions.Time.Testing;

namespace Vivarium.Client.Tests.Fakes;

public static class TestClient
{
    public const string ApiKey = "vk_test_123";
    public static readonly Uri BaseAddress = new("http://vivarium.test/");

    public static VivariumClient Create(FakeHttpHandler handler, Uri? baseAddress = null) =>
        new(new HttpClient(handler) { BaseAddress = baseAddress ?? BaseAddress }, ApiKey);

    public static VivariumClient Create(FakeHttpHandler handler, FakeTimeProvider time) =>
        new(new HttpClient(handler), ownsHttp: true, BaseAddress, ApiKey, time);
}
