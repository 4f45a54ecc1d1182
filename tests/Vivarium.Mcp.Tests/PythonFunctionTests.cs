using Microsoft.Extensions.AI;
using Vivarium.Client;
using Vivarium.Client.AI;

namespace Vivarium.Mcp.Tests;

/// <summary>VivariumPythonFunction driven by FunctionInvokingChatClient, as an IChatClient app would use it.</summary>
[Collection("Mcp")]
public sealed class PythonFunctionTests(McpServerFixture server)
{
    [Fact]
    public async Task A_tool_call_runs_through_Vivarium_and_the_chart_reaches_the_model_as_DataContent()
    {
        using var vivarium = new VivariumClient(new VivariumClientOptions { BaseAddress = server.BaseAddress, ApiKey = McpServerFixture.KeyA });
        var python = new VivariumPythonFunction(vivarium);
        var model = new ScriptedChatClient(
            new FunctionCallContent("call-1", "execute_python", new Dictionary<string, object?>
            {
                ["code"] = "import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [3, 5])\nprint('bars drawn')",
            }),
            new FunctionCallContent("call-2", "execute_python", new Dictionary<string, object?> { ["code"] = "1/0" }));
        using var chat = new ChatClientBuilder(model).UseFunctionInvocation().Build();

        var answer = await chat.GetResponseAsync("Draw a bar chart, then divide by zero.", new ChatOptions { Tools = [python] });

        Assert.Equal("done", answer.Text);
        var first = Assert.IsAssignableFrom<IEnumerable<AIContent>>(model.Results[0].Result).ToList();
        Assert.Contains("bars drawn", Assert.IsType<TextContent>(first[0]).Text);
        var image = Assert.Single(first.OfType<DataContent>());
        Assert.Equal("image/png", image.MediaType);
        Assert.Equal("PNG"u8.ToArray(), image.Data.Span[1..4].ToArray());
        // A Python error reaches the model as text it can act on, not as a failed call.
        var second = Assert.IsAssignableFrom<IEnumerable<AIContent>>(model.Results[1].Result).ToList();
        Assert.Contains("ZeroDivisionError", Assert.IsType<TextContent>(second[0]).Text);

        // Both calls ran in one session, which the function ends when disposed.
        var sessionId = Assert.IsType<string>(python.SessionId);
        Assert.NotNull(server.Sessions.TryGet("a", sessionId));
        await python.DisposeAsync();
        Assert.Null(server.Sessions.TryGet("a", sessionId));
    }

    /// <summary>
    /// A model that asks for each scripted tool call in turn, then answers "done", keeping the
    /// function results it was sent.
    /// </summary>
    private sealed class ScriptedChatClient(params FunctionCallContent[] calls) : IChatClient
    {
        private int _turn;

        public List<FunctionResultContent> Results { get; } = [];

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Results.Clear();
            Results.AddRange(messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
            var reply = _turn < calls.Length
                ? new ChatMessage(ChatRole.Assistant, [calls[_turn]])
                : new ChatMessage(ChatRole.Assistant, "done");
            _turn++;
            return Task.FromResult(new ChatResponse(reply));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
