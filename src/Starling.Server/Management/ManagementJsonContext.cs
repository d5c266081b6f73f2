using System.Text.Json;
using System.Text.Json.Serialization;

namespace Starling.Server.Management;

/// <summary>
/// The management API's JSON, generated at build time: every type the API reads or writes is listed here, so the API
/// needs no reflection and works in a Native AOT build (README "Run"). First in the HTTP JSON options' resolver chain
/// (<see cref="OperationsHttp.AddServices"/>); its options are the API's (web defaults: camelCase; nulls left out).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StatusModel))]
[JsonSerializable(typeof(ErrorModel))]
[JsonSerializable(typeof(ServerInfoModel))]
[JsonSerializable(typeof(StatsModel))]
[JsonSerializable(typeof(ListResult<SessionModel>))]
[JsonSerializable(typeof(ListResult<SubscriptionModel>))]
[JsonSerializable(typeof(ListResult<RetainedMessageModel>))]
[JsonSerializable(typeof(SessionDetailModel))]
[JsonSerializable(typeof(PublishRequest))]
[JsonSerializable(typeof(PublishResult))]
// The query parameters' types: the OpenAPI document describes them through these options too.
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(bool?))]
[JsonSerializable(typeof(int?))]
internal sealed partial class ManagementJsonContext : JsonSerializerContext;
